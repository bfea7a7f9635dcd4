"""The report stage through Snakemake: named targets, `snakemake --report`, and the HTML rendered in Chromium.

Upstream stages are stood in for by metric files the real metric writers made from small real inputs (and image
sets and layouts in the contract's formats), so only the report stage's own rules run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO
from tests.report_helpers import (real_inputs, smoke_metrics, tiny_encoder, write_generated, write_images,
                                  write_layouts)

pytestmark = pytest.mark.workflow

CHROMIUM = Path("/usr/bin/chromium")
SNAKEFILE = """configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/metrics.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
"""


def _experiments(fid: bool):
    g = lambda metrics: {"kind": "generated", "location": "box", "metrics": metrics}  # noqa: E731
    return {"box": g(["coco_bbox", "coco_segm"] + (["fid"] if fid else [])), "point": g(["pim_point"]),
            "colors": g(["attribute"]), "real": {"kind": "real", "metrics": ["coco_bbox", "coco_segm", "pim_point"]}}


def make_workflow(root: Path, fid: bool = False, size: int = 64) -> Path:
    for d in ("rules", "scripts", "report", "envs"):
        (root / d).symlink_to(REPO / d)
    (root / "config").mkdir()
    (root / "config" / "schema").symlink_to(REPO / "config" / "schema")
    shutil.copy(REPO / "config" / "paper_results.yaml", root / "config" / "paper_results.yaml")
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg.update(run="rep", experiments=_experiments(fid),
               fid={"feature": 64, "resolution": size, "kid_subsets": 3, "batch_size": 8},
               report={"bootstrap": {"resamples": 200}, "qualitative_images": 2})
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    (root / "Snakefile").write_text(SNAKEFILE)
    res = root / "results" / "rep"
    inputs = real_inputs(root / "metric_inputs")
    smoke_metrics(res / "metrics", inputs, tiny_encoder(inputs["root"]))
    ids = [1, 2, 3, 4, 5, 6]
    for i, exp in enumerate(("box", "point", "colors")):
        write_layouts(res / "layouts" / f"{exp}.jsonl", ids)
        write_generated(res / "images" / exp, exp, res / "layouts" / f"{exp}.jsonl", size=size, seed=10 + i)
    write_images(res / "images" / "real", "real", ids, size=size, seed=3)
    return root


def snakemake(root: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    exe = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run([str(exe), "--cores", "2", "--directory", str(root), "--snakefile", str(root / "Snakefile"),
                           *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def chromium(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / ('profile-' + str(len(list(tmp.glob('profile-*')))))}",
             "--virtual-time-budget=10000", "--window-size=1280,1024"]
    return subprocess.run([str(CHROMIUM), *flags, *args, url], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("wf"))
    snakemake(root, "table1")                         # one table alone: only its own jobs
    assert (root / "results/rep/tables/table1_boxes.md").exists()
    assert not (root / "results/rep/tables/table3_pim.md").exists()
    snakemake(root, "report")
    snakemake(root, "report", "--report", str(root / "report.html"))
    return root


def test_named_targets_build_tables_and_figures(built):
    tables = built / "results/rep/tables"
    for stem in ("table1_boxes", "table2_masks", "table3_pim", "table4_attribute_binding", "fid_by_format"):
        for ext in ("csv", "md", "tex", "html"):
            assert (tables / f"{stem}.{ext}").stat().st_size > 0
    md = (tables / "table1_boxes.md").read_text()
    ap = 100 * json.loads((built / "results/rep/metrics/real/coco_bbox.json").read_text())["values"]["ap"]
    assert re.search(rf"\| Upper bound \(ours\) \[\d+\] \| {ap:.1f} \[", md), md
    assert "Run manifest: results/rep/manifest.json" in md
    # The fid table has no FID metric in this config: it says what to add, no blank numbers.
    fid = (tables / "fid_by_format.md").read_text()
    assert "does not list metric 'fid'" in fid
    figures = built / "results/rep/figures"
    for name in ("delta_forest", "per_category_ap", "pim_distributions", "fid_vs_format",
                 "qualitative_box", "qualitative_point", "qualitative_colors"):
        assert (figures / f"{name}.png").exists() and (figures / f"{name}.pdf").exists()
    manifest = json.loads((built / "results/rep/manifest.json").read_text())
    assert manifest["run"] == "rep" and len(manifest["config_sha256"]) == 64


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_report_renders_in_chromium(built, tmp_path):
    from PIL import Image

    url = (built / "report.html").as_uri()
    shot = tmp_path / "shot.png"
    chromium(url, tmp_path, f"--screenshot={shot}")
    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert img.std() > 10 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50, "blank screenshot"
    dom = chromium(url, tmp_path, "--dump-dom").stdout
    assert "Snakemake" in dom and "Tables" in dom and "Figures" in dom
    # Captions are RST rendered to HTML: compare plain words (markup, tags and line breaks removed).
    text = " ".join(re.sub(r"<[^>]+>", " ", dom).split())
    # Every caption but those of other stages' rules (this test workflow includes only the report stage).
    others = " ".join(p.read_text() for p in (REPO / "rules").glob("*.smk") if not p.name.startswith("report"))
    captions = [p for p in (REPO / "report").glob("*.rst") if f"report/{p.name}" not in others]
    assert len(captions) >= 5, captions
    for rst in captions:
        first = rst.read_text().split("{{")[0].replace("*", "").replace("`", "")
        words = " ".join(first.split()[:5])
        assert words in text, f"caption of {rst.name} not in the report DOM: {words!r}"
    # One rule writes every figure, so the caption cannot name the experiment from a wildcard: its label does.
    assert "Qualitative samples of one experiment" in text and "qualitative_box.png" in text


@pytest.mark.slow
def test_fid_chain_on_the_smoke_models(tmp_path):
    """inception_weights (random, smoke) -> fid_reference -> fid -> fid_table, through Snakemake."""
    root = make_workflow(tmp_path, fid=True)
    snakemake(root, "fid_table")
    fid = json.loads((root / "results/rep/metrics/box/fid.json").read_text())
    assert fid["values"]["fid"] >= 0 and fid["settings"]["feature"] == 64 and fid["manifest"]["run"] == "rep"
    assert "| InstanceDiffusion (ours) [" in (root / "results/rep/tables/fid_by_format.md").read_text()
