"""raters/table.{md,csv,tex}: the human study's results beside stats.json, from the stats the analysis wrote."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import pytest

from instdiff.core.errors import InputError
from instdiff.raters.analysis import run_study
from instdiff.raters.results_table import write_results_table
from instdiff.raters.synthetic import write_synthetic_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    write_synthetic_study(d / "ratings.csv", d / "automatic.csv", seed=3)
    tables = [d / "table.md", d / "table.csv", d / "table.tex"]
    stats = run_study(d / "ratings.csv", d / "stats.json", d / "figures", seed=3, automatic=[d / "automatic.csv"],
                      n_boot=200, n_boot_alpha=100, tables=tables)
    return d, stats


def test_csv_holds_the_stats_numbers(study):
    d, stats = study
    rows = list(csv.DictReader((d / "table.csv").open()))
    first = rows[0]
    assert (first["quantity"], first["group"]) == ("mean score", "all ratings")
    assert float(first["value"]) == pytest.approx(stats["means"]["all"]["mean"])
    assert [float(first["ci_low"]), float(first["ci_high"])] == pytest.approx(stats["means"]["all"]["ci"])
    assert first["n"] == str(stats["n_ratings"])
    assert float(first["published"]) == pytest.approx(2.38)
    alpha = next(r for r in rows if r["quantity"].startswith("Krippendorff") and r["group"] == "all criteria")
    assert float(alpha["value"]) == pytest.approx(stats["agreement"]["krippendorff_alpha"]["all"]["alpha"])
    taus = {r["quantity"] for r in rows if r["quantity"].startswith("Kendall")}
    assert taus == {"Kendall's τ, human vs clip", "Kendall's τ, human vs grounding_iou"}
    raters = [r for r in rows if r["group"].startswith("rater ")]
    assert len(raters) == len(stats["raters"])
    assert json.loads((d / "stats.json").read_text())["n_ratings"] == stats["n_ratings"]


def test_markdown_is_readable(study):
    d, stats = study
    md = (d / "table.md").read_text()
    m = stats["means"]["all"]
    assert md.startswith("## Human study")
    assert (f"| mean score | all ratings | {m['mean']:.2f} [{m['ci'][0]:.2f}, {m['ci'][1]:.2f}] | "
            f"{stats['n_ratings']} | 2.38 [") in md
    assert "| mean score | Overall realism |" in md and "ratings of 12 images by 4 raters" in md


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine")
def test_latex_compiles(study, tmp_path):
    d, _ = study
    tex = (d / "table.tex").read_text()
    assert r"$\alpha$" in tex and r"$\tau$" in tex and "grounding\\_iou" in tex
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\\usepackage[utf8]{inputenc}\\usepackage{booktabs}"
                                      "\\begin{document}\n" + tex + "\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_not_a_stats_file_is_one_error(tmp_path):
    with pytest.raises(InputError, match="raters_stats"):
        write_results_table({"values": {}}, [tmp_path / "t.md"])
