"""One experiment's change reruns that experiment's work and the tables, nothing of the other experiments
(issue 20, item 4).

The paper config's whole DAG is built before and after an edit (tests/workflow/dag_jobs.py, no job runs) and
Snakemake's rerun triggers are applied to the two: a job reruns when it is new, when its params or input files
changed, or when a job it depends on reruns.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.conftest import REPO
from tests.workflow.conftest import copy_repo, snakemake_env
from tests.workflow.dag_jobs import rerun

pytestmark = pytest.mark.workflow

PAPER = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
# Run-level jobs that read every experiment: they rerun with any of them.
RUN_LEVEL = {"all", "manifest", "table1", "table2", "table3", "table4", "fid_table", "generation_cost", "figures",
             "report_page"}


def _jobs(root: Path, config: dict, name: str) -> list[dict]:
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "tests.workflow.dag_jobs", str(path)], cwd=root, env=snakemake_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("experiments") / "repo")


@pytest.fixture(scope="module")
def paper_jobs(root) -> list[dict]:
    return _jobs(root, PAPER, "paper")


def _experiments_of(job: dict) -> set[str]:
    """The experiments a job's outputs belong to (a path part named after it: images/box/..., layouts/box.jsonl)."""
    found = set()
    for out in job["output"]:
        parts = PurePosixPath(out).parts
        found |= {p for p in parts if p in ALL} | {PurePosixPath(out).stem} & ALL
    return found


ALL = set(PAPER["experiments"]) | {"box_b"}


def _check(reran: list[dict], mine: set[str]) -> None:
    strays = sorted(j["output"][0] for j in reran if j["rule"] not in RUN_LEVEL and not _experiments_of(j) <= mine)
    assert not strays, f"{len(strays)} jobs of other experiments rerun: {strays[:8]}"
    unowned = sorted(j["output"][0] for j in reran if j["rule"] not in RUN_LEVEL and not _experiments_of(j))
    assert not unowned, f"shared jobs rerun: {unowned[:8]}"


def test_adding_an_experiment_runs_its_own_jobs_and_the_tables(paper_jobs, root):
    cfg = copy.deepcopy(PAPER)
    cfg["experiments"]["box_b"] = {**cfg["experiments"]["box"], "seed": 1}  # a second seed of Table 1's box row
    reran = rerun(paper_jobs, _jobs(root, cfg, "added"))
    _check(reran, {"box_b"})
    rules = {j["rule"] for j in reran}
    assert {"generate", "detect", "coco_ap", "fid", "table1"} <= rules


def test_editing_an_experiment_reruns_it_and_its_jpeg_copy_only(paper_jobs, root):
    cfg = copy.deepcopy(PAPER)
    cfg["experiments"]["mask"]["guidance_scale"] = 5.0
    reran = rerun(paper_jobs, _jobs(root, cfg, "edited"))
    _check(reran, {"mask", "mask_jpeg75"})  # the JPEG-75 copies of the mask images are new images too
    generated = {j["output"][0] for j in reran if j["rule"] == "generate"}
    assert len(generated) == PAPER["experiments"]["mask"].get("shards", PAPER["generation"]["shards"])
    assert {"detect", "coco_ap", "fid", "table2"} <= {j["rule"] for j in reran}
