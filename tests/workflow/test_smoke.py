"""The embedded smoke configuration runs end to end from a clean copy, locally and through a real SLURM."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.slurm_ci import cluster as slurm
from tests.workflow.conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.workflow

SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())


def _metric_values(root: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((root / "results" / SMOKE["run"] / "metrics").glob("*/*.json")):
        out[f"{path.parent.name}/{path.name}"] = json.loads(path.read_text())["values"]
    return out


def test_smoke_dag_reaches_the_tables(smoke_run):
    results = smoke_run / "results" / SMOKE["run"]
    tables = results / "tables"
    assert (tables / "table1_boxes.md").exists()
    values = _metric_values(smoke_run)
    for name, exp in SMOKE["experiments"].items():
        for metric in exp["metrics"]:
            assert any(key.startswith(f"{name}/{metric}") for key in values), f"no {metric} file for {name}"
    # Every number in a metric file is a real number, never a stand-in.
    for key, vals in values.items():
        for v in vals.values():
            assert isinstance(v, (int, float)) and v == v or v is None, (key, vals)


def test_smoke_upper_bound_measures_something(smoke_run):
    """The shipped tiny detectors detect: the `real` row clears the floors, and the tables show those numbers."""
    import csv

    from instdiff.yolo_train import SMOKE_FLOORS

    results = smoke_run / "results" / SMOKE["run"]
    read = lambda name: json.loads((results / "metrics" / "real" / f"{name}.json").read_text())["values"]  # noqa: E731
    got = {"box_ap50": read("coco_bbox")["ap50"], "mask_ap50": read("coco_segm")["ap50"],
           "pim_point_paper": read("pim_point_paper")["pim"]}
    for key, floor in SMOKE_FLOORS.items():
        assert got[key] >= floor, (key, got[key], floor)
    shown = {}
    for stem in ("table1_boxes", "table2_masks", "table3_pim"):
        with (results / "tables" / f"{stem}.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row["kind"] == "upper bound" and row["value"]:
                    shown.setdefault(row["measure"], []).append(float(row["value"]))
    for measure, key in (("box.ap50", "box_ap50"), ("mask.ap50", "mask_ap50"), ("point.pim", "pim_point_paper")):
        assert any(abs(v - 100 * got[key]) < 1e-3 for v in shown.get(measure, [])), (measure, shown.get(measure))


def test_smoke_rerun_has_nothing_to_do(smoke_run):
    proc = run_snakemake(["all", "-n", "--configfile", "config/smoke.yaml"], cwd=smoke_run)
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = slurm.available()
    if reason:
        pytest.skip(f"no SLURM here: {reason}")
    cluster = slurm.SlurmCluster(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_table1_through_real_slurm_matches_local_run(slurm_cluster, smoke_run, tmp_path):
    """Table 1's part of the smoke DAG (data, tiny models, sharded generation on the fake GPUs, detection, COCO
    metrics, FID) submitted through the real `slurm` profile; every metric equals the local run's."""
    root = copy_repo(tmp_path / "repo")
    run_snakemake(["--profile", "slurm", "--profile", "tests/slurm_ci", "table1"], cwd=root, timeout=3000)
    log_dir = root / ".snakemake" / "slurm_logs"
    logs = list(log_dir.rglob("*.log"))
    assert logs, "no SLURM job logs: jobs did not go through sbatch"
    rules = {p.relative_to(log_dir).parts[0] for p in logs}  # slurm_logs/rule_<name>[/<wildcards>]/<jobid>.log
    assert {"rule_generate", "rule_detect"} <= rules, rules
    assert any(r.startswith("group_scores") for r in rules), f"cheap scorers were not grouped: {rules}"
    states = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%T"], capture_output=True, text=True).stdout.split()
    assert states and set(states) == {"COMPLETED"}, states
    ours = _metric_values(root)
    local = _metric_values(smoke_run)
    assert ours and all(key in local for key in ours)
    assert ours == {key: local[key] for key in ours}
