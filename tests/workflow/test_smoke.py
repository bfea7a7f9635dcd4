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


def test_smoke_jpeg_variant_is_scored_end_to_end(smoke_run):
    """JPEG-75 copies of the same generated images (not regenerated) go through detection and every metric, and
    the tables show them beside the PNG rows."""
    import io

    import numpy as np
    from PIL import Image

    results = smoke_run / "results" / SMOKE["run"]
    copies = {n: e for n, e in SMOKE["experiments"].items() if e["kind"] == "jpeg_copy"}
    assert copies, "the smoke config has no jpeg_copy experiment"
    for name, exp in copies.items():
        src = json.loads((results / "images" / exp["source"] / "done.json").read_text())
        dst = json.loads((results / "images" / name / "done.json").read_text())
        assert [r["id"] for r in dst["images"]] == [r["id"] for r in src["images"]]
        for s_rec, d_rec in zip(src["images"], dst["images"]):
            png = Image.open(results / "images" / exp["source"] / s_rec["file"]).convert("RGB")
            buf = io.BytesIO()
            png.save(buf, format="JPEG", quality=exp.get("jpeg_quality", 75))
            jpg = Image.open(results / "images" / name / d_rec["file"])
            assert jpg.format == "JPEG"
            assert np.array_equal(np.asarray(jpg.convert("RGB")), np.asarray(Image.open(buf).convert("RGB")))
        assert (results / "layouts" / f"{name}.jsonl").read_bytes() == \
            (results / "layouts" / f"{exp['source']}.jsonl").read_bytes()
        for metric in exp["metrics"]:
            assert list((results / "metrics" / name).glob(f"{metric}*.json")), f"{name}: no {metric} file"
        fid = results / "metrics" / name / "fid.json"
        if fid.exists():
            assert json.loads(fid.read_text())["settings"]["stored_format"] == "jpeg"
    tables = {p.name: p.read_text() for p in (results / "tables").glob("*.md")}
    for stem in ("table1_boxes", "table3_pim", "table4_attribute_binding", "fid_by_format"):
        row = next((line for line in tables[f"{stem}.md"].splitlines() if "JPEG-75 copies of the same images)" in line
                    and not line.startswith("| Δ")), None)
        assert row and "missing" not in row, (stem, row)


def test_smoke_tables_show_cis_footnotes_and_the_figures_data(smoke_run):
    import re

    from instdiff.metrics.record import read_record
    from instdiff.stats import per_image_values

    results = smoke_run / "results" / SMOKE["run"]
    t3 = (results / "tables" / "table3_pim.md").read_text()
    assert re.search(r"\| InstanceDiffusion \(ours, PiM as in eval_pim.py, images as stored: PNG\) \| [-\d.]+ "
                     r"\[[-\d.]+, [-\d.]+\]", t3), t3
    # What figures/pim_distributions and figures/per_category_ap read is in the writers' files.
    pim = read_record(results / "metrics" / "point" / "pim_point_paper.json")
    assert per_image_values(pim.per_image, "pim")
    coco = read_record(results / "metrics" / "box" / "coco_bbox.json")
    assert any(r["ap"] is not None for r in coco.per_category)
    for md in (results / "tables").glob("*.md"):
        text = md.read_text()
        marks = {int(n) for group in re.findall(r"\[(\d+(?:, \d+)*)\]", text) for n in group.split(", ")}
        for n in marks:
            assert re.search(rf"^\[{n}\] \S", text, re.M), f"{md.name}: mark [{n}] has no footnote"


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
