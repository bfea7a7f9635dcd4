"""Downloads on a cluster: every one is a localrule (the submit host has the network), and a paper run whose
downloads are not pinned stops before anything is submitted, naming the config keys; the smoke run is unaffected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow.conftest import copy_repo, run_snakemake, snakemake_env

pytestmark = pytest.mark.workflow

LOCALRULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(snakefile=Path("Snakefile"), resource_settings=ResourceSettings(cores=1),
                      config_settings=ConfigSettings(configfiles=[Path(sys.argv[1])]))._workflow
    print(json.dumps(sorted(wf._localrules)))
"""


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("downloads") / "repo")


def localrules(repo: Path, configfile: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", LOCALRULES, configfile], cwd=repo, env=snakemake_env(),
                          capture_output=True, text=True, timeout=600, check=True)
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_paper_dry_run_schedules_every_download_as_a_localrule(clean_copy):
    """A dry run never prints 'localrule' (Snakemake leaves the choice to the executor), so the jobs come from the
    dry run and their locality from the parsed workflow."""
    proc = run_snakemake(["all", "-n", "--quiet", "rules", "--configfile", "config/config.yaml"], cwd=clean_copy)
    scheduled = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    downloads = {"llm_clip_download", "hub_snapshot", "llm_extension_files"}
    assert downloads <= scheduled, scheduled
    assert downloads <= localrules(clean_copy, "config/config.yaml")


def test_unpinned_downloads_stop_the_paper_run_before_submission(clean_copy):
    """Whatever the shipped config pins, a null revision or checksum stops the run before any job, naming every
    unpinned key; an overlay nulls one of each so the test does not depend on what is shipped unpinned."""
    paper = yaml.safe_load((clean_copy / "config" / "config.yaml").read_text())
    overlay = clean_copy / "unpinned.yaml"
    overlay.write_text(yaml.safe_dump({"llm": {"clip": {"sha256": None},
                                               "grounding": {"scorers": {"owlv2": {"revision": None}}}},
                                       "models": {"gligen": {"revision": None}}}))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--configfile", "config/config.yaml", str(overlay.name),
                           "--cores", "1", "resources/models/llm_clip/ViT-B-32-quickgelu_openai.safetensors"],
                          cwd=clean_copy, env=snakemake_env(), capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config/config.yaml, unpinned.yaml: llm.clip.sha256: None (not pinned)" in out
    assert "Nothing was submitted" in out and out.count("prerequisite(s) missing") == 2  # the warning, the stop
    assert "llm.clip.sha256: None" in out and "llm.grounding.scorers.owlv2.revision: None" in out
    assert "models.gligen.revision: None" in out  # the GLIGEN snapshot of experiment gligen_box
    shipped_null = [f"experiments.{n}.refiner.revision" for n, e in paper["experiments"].items()
                    if (e.get("refiner") or {}).get("model") and e["refiner"].get("revision") is None]
    for key in shipped_null:
        assert f"{key}: None" in out, key
    assert "cogvlm.revision" not in out and "tokenizer_revision" not in out, "pinned commits are not listed"
    assert not (clean_copy / "resources").exists(), "nothing ran"


def test_a_dry_run_of_the_paper_config_warns_with_every_missing_prerequisite(clean_copy):
    """The same list as `instdiff preflight`, as a warning: the dry run still plans the DAG."""
    from tests.unit.test_preflight import PAPER_UNPINNED

    env = {k: v for k, v in snakemake_env().items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "all", "-n", "--configfile", "config/config.yaml",
                           "--quiet", "rules"], cwd=clean_copy, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("prerequisite(s) missing") == 1 and "missing" not in proc.stdout  # stdout: the jobs
    for key in PAPER_UNPINNED:
        assert f"{key}: None (not pinned)" in proc.stderr, key
    assert "OPENAI_API_KEY is not set" in proc.stderr and "generate" in proc.stdout


def test_the_smoke_run_has_nothing_to_pin(clean_copy):
    """The same start-of-run check passes for the smoke config (tiny models only), and its CLIP stand-in is built."""
    run_snakemake(["--cores", "1", "results/smoke/models/llm/clip/tiny-clip.safetensors"], cwd=clean_copy)
    record = json.loads((clean_copy / "results/smoke/models/llm/clip/tiny-clip.safetensors.json").read_text())
    assert record["kind"] == "tiny" and record["preprocess"]["mean"][0] == pytest.approx(0.48145466)
