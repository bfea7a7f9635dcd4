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
