"""The DAG itself: dry-runs of the paper protocol (plain and through the SLURM profile) and the linter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.workflow.conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.workflow

PAPER = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("dag") / "repo")


def test_paper_config_dry_run_needs_no_data(clean_copy):
    proc = run_snakemake(["all", "-n", "--quiet", "rules", "--configfile", "config/config.yaml"], cwd=clean_copy)
    assert "generate" in proc.stdout
    assert not (clean_copy / "results").joinpath(PAPER["run"]).exists(), "a dry-run must not write results"


def _jobs(dry_run_output: str) -> list[dict[str, str]]:
    """Parse the job blocks a verbose dry-run prints: rule name, wildcards and resources."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run_output):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head:
            continue
        job = {"rule": head.group(1)}
        for key in ("wildcards", "resources"):
            m = re.search(rf"^\s+{key}: (.*)$", block, re.M)
            if m:
                job[key] = m.group(1)
        jobs.append(job)
    return jobs


@pytest.fixture(scope="module")
def paper_jobs(clean_copy) -> list[dict[str, str]]:
    """The jobs of the paper protocol's dry run through the SLURM profile (one run for every test that reads them).
    Conda checks aside (conda cannot be installed here): the CLI's --sdm overrides the profile's."""
    proc = run_snakemake(["--profile", "slurm", "-n", "all", "--sdm", "env-modules"], cwd=clean_copy)
    return _jobs(proc.stdout)


def test_slurm_profile_dry_run_requests_gpus_and_shards(paper_jobs):
    jobs = paper_jobs
    generate = [j for j in jobs if j["rule"] == "generate"]
    assert generate, "the paper protocol generates images"
    assert all("gpu=1" in j["resources"] for j in generate)
    for name, exp in PAPER["experiments"].items():
        if exp["kind"] != "generated":
            continue
        n = exp.get("shards", PAPER["generation"]["shards"])
        shards = [j for j in generate if re.search(rf"experiment={name}\b", j["wildcards"])]
        assert len(shards) == n, f"{name}: {len(shards)} shard jobs, config says {n}"
    cpu_only = [j for j in jobs if j["rule"] in {"layouts", "annotations_512"}]
    assert cpu_only and not any("gpu=1" in j.get("resources", "") for j in cpu_only)


def test_one_attribute_job_per_experiment_writes_both_variants(paper_jobs):
    """attribute_gt.json and attribute_detected.json come from one job (one CLIP load) per experiment that scores
    the attribute metric, which always asks for both files."""
    scored = sorted(name for name, exp in PAPER["experiments"].items() if "attribute" in exp.get("metrics", []))
    jobs = sorted(re.search(r"experiment=(\w+)", j["wildcards"]).group(1)
                  for j in paper_jobs if j["rule"] == "attribute")
    assert scored and jobs == scored


def test_lint_is_clean(clean_copy):
    proc = run_snakemake(["--lint", "--configfile", "config/smoke.yaml"], cwd=clean_copy)
    assert "Congratulations" in proc.stdout + proc.stderr


PROFILE = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
CI_OVERLAY = yaml.safe_load((REPO / "tests" / "slurm_ci" / "config.yaml").read_text())


def _resource(job: dict[str, str], name: str) -> str | None:
    m = re.search(rf"\b{name}=([^,\s]+)", job.get("resources", ""))
    return m.group(1) if m else None


def test_gpu_rules_go_to_the_gpu_partition_with_a_gpu_model(paper_jobs):
    gpu_rules = {j["rule"] for j in paper_jobs if _resource(j, "gpu") == "1"}
    assert {"generate", "detect", "fid", "llm_grounding_vlm"} <= gpu_rules, gpu_rules
    cpu_partition = PROFILE["default-resources"]["slurm_partition"]
    for rule in gpu_rules:
        site = PROFILE["set-resources"].get(rule, {})
        assert site.get("slurm_partition") not in (None, cpu_partition), f"{rule}: no GPU partition in slurm/"
        assert "gpu_model" in site, f"{rule}: no gpu_model in slurm/config.yaml"
        ci = CI_OVERLAY["set-resources"].get(rule, {})
        assert ci.get("slurm_partition") == "gpu" and ci.get("gpu_model"), f"{rule}: not routed in tests/slurm_ci"
    # CogVLM needs a 40 GB card: its model placeholder is not the generic one.
    assert PROFILE["set-resources"]["llm_grounding_vlm"]["gpu_model"] != PROFILE["set-resources"]["generate"]["gpu_model"]


def test_generation_shards_ask_for_the_time_their_work_needs(paper_jobs):
    config = PAPER
    for job in (j for j in paper_jobs if j["rule"] == "generate"):
        experiment = re.search(r"experiment=(\w+)", job["wildcards"]).group(1)
        exp = config["experiments"][experiment]
        n = exp.get("shards", config["generation"]["shards"])
        images = config["llm"]["n_layouts"] if exp.get("layouts") == "llm" else 5000
        work = -(-images // n) * config["generation"]["seconds_per_image"] / 60
        runtime = int(_resource(job, "runtime"))
        assert work < runtime <= 2 * work + 10, (experiment, runtime, work)


def test_llm_generation_shards_fit_its_layouts():
    llm = PAPER["experiments"]["llm"]
    assert PAPER["llm"]["n_layouts"] / llm.get("shards", PAPER["generation"]["shards"]) >= 10


def _rules_named(profile: dict) -> set[str]:
    """The rules a profile names: its groups (rule=group), set-resources, set-threads and array jobs."""
    names = {entry.split("=")[0] for entry in profile.get("groups", [])}
    names |= set(profile.get("set-resources", {})) | set(profile.get("set-threads", {}))
    array = profile.get("slurm-array-jobs")
    names |= {array} if isinstance(array, str) else set(array or [])
    return names


def test_profiles_name_only_rules_that_exist(clean_copy):
    """A renamed rule would silently leave its group, partition or threads behind: every rule a profile names must
    be a rule of the workflow (either config)."""
    rules = set()
    for config in ("config/config.yaml", "config/smoke.yaml"):
        proc = run_snakemake(["--list-rules", "--configfile", config], cwd=clean_copy)
        rules |= {m.group(1) for m in re.finditer(r"^(\w+)(?: \(|$)", proc.stdout, re.M)}  # "name (docstring)"
    assert {"generate", "coco_ap", "pim", "attribute"} <= rules, sorted(rules)
    for name, profile in (("slurm/config.yaml", PROFILE), ("tests/slurm_ci/config.yaml", CI_OVERLAY)):
        unknown = _rules_named(profile) - rules
        assert not unknown, f"{name} names rules the workflow does not have: {sorted(unknown)}"
