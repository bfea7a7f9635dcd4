"""GLIGEN in the DAG (dry runs): the smoke's tiny stand-in and generation jobs, the paper run's pinned snapshot and
shards, the cost table, and the config error of a GLIGEN experiment that is not a box experiment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.workflow.conftest import SNAKEMAKE, copy_repo, run_snakemake, snakemake_env

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("gligen_dag") / "repo")


def _jobs(output: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a verbose dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if head:
            wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs.append((head.group(1), wc.group(1) if wc else ""))
    return jobs


def test_smoke_dag_generates_gligen_images_from_the_tiny_stand_in(clean_copy):
    jobs = _jobs(run_snakemake(["all", "-n", "--configfile", "config/smoke.yaml"], cwd=clean_copy).stdout)
    rules = [r for r, _ in jobs]
    assert rules.count("tiny_gligen") == 1
    gligen = [(r, w) for r, w in jobs if re.search(r"experiment=gligen_box\b", w)]
    assert ("paired_layouts", "experiment=gligen_box") in gligen
    assert [w for r, w in gligen if r == "generate"] == ["experiment=gligen_box, shard=0, nshards=1"]
    assert {"generate_done", "detect", "coco_ap"} <= {r for r, _ in gligen}  # its FID: the paper config's (below)
    # the generation-cost table waits for GLIGEN's done file (it lists every generated experiment)
    cost = _jobs(run_snakemake(["results/smoke/tables/generation_cost.md", "-n", "--configfile", "config/smoke.yaml"],
                               cwd=clean_copy).stdout)
    assert ("generate_done", "experiment=gligen_box") in cost


def test_paper_dag_shards_gligen_like_box_from_the_pinned_snapshot(clean_copy):
    jobs = _jobs(run_snakemake(["all", "-n", "--configfile", "config/config.yaml"], cwd=clean_copy).stdout)
    count = {e: sum(1 for r, w in jobs if r == "generate" and re.search(rf"experiment={e}\b", w))
             for e in ("box", "gligen_box")}
    assert count["gligen_box"] == count["box"] == 64, count
    gligen_rules = {r for r, w in jobs if re.search(r"experiment=gligen_box\b", w)}
    assert {"detect", "coco_ap", "fid"} <= gligen_rules, gligen_rules
    assert ("hub_snapshot", "name=masterful--gligen-1-4-generation-text-box") in jobs
    assert "tiny_gligen" not in {r for r, _ in jobs}


def test_gligen_on_mask_layouts_stops_the_dry_run_naming_the_key(clean_copy):
    config = yaml.safe_load((clean_copy / "config" / "smoke.yaml").read_text())
    config["experiments"]["gligen_box"]["location"] = "mask"
    bad = clean_copy / "config" / "bad_gligen.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = subprocess.run(SNAKEMAKE + ["all", "-n", "--configfile", "config/bad_gligen.yaml"], cwd=clean_copy,
                          env=snakemake_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "experiments.gligen_box.model" in out and "config/bad_gligen.yaml" in out, out[-3000:]
