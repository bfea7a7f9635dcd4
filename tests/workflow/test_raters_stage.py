"""rules/raters.smk on its own (common.smk + raters.smk): the smoke config writes a synthetic study and analyses it;
the paper config without ratings asks nothing of the stage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.workflow

SNAKEFILE = """\
configfile: "config/smoke.yaml"
include: "rules/common.smk"
include: "rules/raters.smk"
rule all:
    input: RATERS_TARGETS
"""


def _workflow(tmp_path: Path) -> Path:
    root = tmp_path / "wf"
    shutil.copytree(REPO / "config", root / "config")
    shutil.copytree(REPO / "envs", root / "envs")  # conda: directives are recorded in the job metadata
    shutil.copytree(REPO / "report", root / "report")  # figure captions
    (root / "rules").mkdir()
    for name in ("common.smk", "raters.smk"):
        shutil.copy(REPO / "rules" / name, root / "rules" / name)
    (root / "scripts").mkdir()
    for script in (REPO / "scripts").glob("raters_*.py"):
        shutil.copy(script, root / "scripts" / script.name)
    (root / "Snakefile").write_text(SNAKEFILE)
    return root


def _snakemake(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_smoke_runs_the_synthetic_study(tmp_path):
    root = _workflow(tmp_path)
    proc = _snakemake(["--cores", "1", "all"], root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = root / "results" / "smoke" / "raters"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["published"]["mean"] == pytest.approx(2.38)
    assert len(stats["raters"]) == 4 and stats["n_images"] == 12
    assert stats["agreement"]["krippendorff_alpha"]["all"]["alpha"] is not None
    assert {r["metric"] for r in stats["automatic_vs_human"]} == {"clip", "grounding_iou"}
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert len(figures) == 10 and "histogram.pdf" in figures
    # The results table beside the JSON, in every format.
    table = (out / "table.md").read_text()
    assert table.startswith("> **Test run on") and "\n## Human study" in table  # the smoke's banner first
    assert (out / "table.csv").read_text().startswith("quantity,group,value,")
    assert "\\begin{tabular}" in (out / "table.tex").read_text()
    assert (root / "results" / "smoke" / "logs" / "raters" / "stats.log").exists()
    # The PNGs carry a caption into the Snakemake HTML report.
    proc = _snakemake(["--report", str(tmp_path / "report.zip")], root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "report.zip").stat().st_size > 0


def test_paper_config_without_ratings_asks_nothing(tmp_path):
    root = _workflow(tmp_path)
    proc = _snakemake(["-n", "all", "--configfile", "config/config.yaml"], root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "raters_stats" not in proc.stdout + proc.stderr


def test_paper_config_with_ratings_plans_the_analysis(tmp_path):
    root = _workflow(tmp_path)
    (root / "r1.csv").write_text("image_id,rater_id,criterion,score,variant,timestamp\n")
    proc = _snakemake(["-n", "all", "--configfile", "config/config.yaml",
                       "--config", "raters={'ratings': ['r1.csv']}"], root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = proc.stdout + proc.stderr
    assert "raters_stats" in text and "raters_synthetic" not in text
