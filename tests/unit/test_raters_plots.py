"""The rater figures are written as PNG and PDF, also when no automatic scores exist; the rule file lists them."""

from __future__ import annotations

import re

import pandas as pd

from instdiff.raters import analysis as R
from instdiff.raters.plots import FIGURES, figure_paths, fit_band, likert_rows, write_figures
from instdiff.raters.synthetic import synthetic_study
from tests.conftest import REPO


def test_write_figures(tmp_path):
    ratings, auto = synthetic_study(seed=1, n_images=5, n_raters=3)
    df, auto = pd.DataFrame(ratings), pd.DataFrame(auto)
    stats = R.analyse(df, auto, seed=1, n_boot=100, n_boot_alpha=100)
    written = write_figures(df, auto, stats, tmp_path / "with", seed=1)
    assert sorted(written) == sorted(figure_paths(tmp_path / "with"))
    for path in written:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else head.startswith(b"%PDF")
    # Without automatic scores the scatter figure says so instead of failing.
    stats = R.analyse(df, None, seed=1, n_boot=100, n_boot_alpha=100)
    assert len(write_figures(df, None, stats, tmp_path / "without", seed=1)) == 2 * len(FIGURES)


def test_likert_rows_are_shares():
    ratings, _ = synthetic_study(seed=2, n_images=4, n_raters=2)
    rows = likert_rows(pd.DataFrame(ratings))
    assert len(rows) == 8  # 4 criteria x 2 variants
    assert all(abs(shares.sum() - 1) < 1e-12 for _, shares in rows)


def test_fit_band_contains_the_exact_line():
    import numpy as np

    x = np.arange(10.0)
    line, lo, hi = fit_band(x, 2 * x + 1, x, seed=0, n_boot=50)
    assert np.allclose(line, 2 * x + 1) and np.allclose(lo, line) and np.allclose(hi, line)


def test_rule_file_lists_the_same_figures():
    text = (REPO / "rules" / "raters.smk").read_text()
    names = re.search(r"RATERS_FIGURE_NAMES = \[(.*?)\]", text, flags=re.S).group(1)
    assert [n.strip().strip('"') for n in names.split(",") if n.strip()] == FIGURES


def test_save_measures_the_tight_box_once_for_both_files(tmp_path, monkeypatch):
    """PNG and PDF cropped to one measured box: three draws, not savefig's two per file."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from instdiff.raters import plots

    draws = []
    real_draw = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or real_draw(self, renderer))
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar([1, 2], [3, 4])
    fig.tight_layout()
    paths = plots.save(fig, tmp_path, "x")
    assert [p.name for p in paths] == ["x.png", "x.pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert len(draws) == 3
