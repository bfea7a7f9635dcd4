"""The human study's results as a table (md, csv, tex) beside its JSON (issue 22 item 9)."""

import csv
import io
import json
import shutil
import subprocess

from instdiff.raters.analysis import run_study
from instdiff.raters.results_table import HEADER, write_results_table
from instdiff.raters.synthetic import synthetic_study
from instdiff.raters.table import write_ratings


def test_results_table_beside_the_json(tmp_path):
    ratings, _ = synthetic_study(seed=5, n_images=6, n_raters=3)
    write_ratings(tmp_path / "ratings.csv", ratings)
    run_study([tmp_path / "ratings.csv"], tmp_path / "stats.json", tmp_path / "figs", seed=1, n_boot=100, n_boot_alpha=50)
    outs = [tmp_path / f"results.{ext}" for ext in ("md", "csv", "tex")]
    write_results_table(tmp_path / "stats.json", *outs, banner="Test run: synthetic ratings")
    stats = json.loads((tmp_path / "stats.json").read_text())
    rows = list(csv.reader(io.StringIO(outs[1].read_text())))
    assert rows[0] == HEADER
    published = rows[1]
    assert published[1] == f"{stats['published']['mean']:.2f}" and published[3] == str(stats["published"]["n"])
    everything = next(r for r in rows if r[0] == "ours, all ratings")
    m = stats["means"]["all"]
    assert everything[1:5] == [f"{m['mean']:.2f}", f"[{m['ci'][0]:.2f}, {m['ci'][1]:.2f}]", str(m["n_ratings"]), "3"]
    assert {r[0] for r in rows} >= {"ours, Overall realism", "ours, raw images", "ours, refined images"}
    md = outs[0].read_text()
    assert "Test run: synthetic ratings" in md and "| ours, all ratings |" in md
    tex = outs[2].read_text()
    assert tex.isascii() and r"$\alpha$" in tex
    if shutil.which("pdflatex"):
        (tmp_path / "doc.tex").write_text(r"\documentclass{article}\usepackage{booktabs}\usepackage[landscape]{geometry}"
                                          r"\begin{document}\input{results.tex}\end{document}" + "\n")
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-2000:]
