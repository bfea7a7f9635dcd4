"""Figures of the human study, each written as PNG and PDF (matplotlib, Agg backend).

* ``histogram`` — the published figure's style (frequency of each score 1-5, value labels on the bars), our study
  beside the published one, as percentages so studies of different size compare.
* ``likert_criteria`` — diverging stacked bars: one bar per criterion (and variant), score 3 centred on zero,
  1-2 to the left, 4-5 to the right.
* ``rater_boxplots`` — per rater, the distribution of their per-picture mean score (points jittered), mean marked.
* ``rater_image_heatmap`` — raters x pictures, mean score over criteria; pictures sorted by their mean; dark grey =
  not rated. Rows that drift from the others stand out.
* ``automatic_vs_human`` — per automatic metric, its per-image value against the mean human score, with the
  least-squares line and its 95% percentile-bootstrap band (seeded), and Kendall tau [CI] from the statistics.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from instdiff.core.figure_files import save_tight
from instdiff.raters.table import CRITERIA, CRITERION_LABELS, SCORES, human_means
from instdiff.core.seeding import rng

log = logging.getLogger(__name__)

FIGURES = ["histogram", "likert_criteria", "rater_boxplots", "rater_image_heatmap", "automatic_vs_human"]
LIKERT_COLOURS = ["#b2182b", "#ef8a62", "#d9d9d9", "#67a9cf", "#2166ac"]  # 1..5, RdBu (colour-blind safe)


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name.png`` (150 dpi) and ``name.pdf`` atomically; close the figure."""
    # Cropped as bbox_inches="tight" crops, measured once for both files (instdiff.core.figure_files).
    return save_tight(fig, [Path(out_dir) / f"{name}.{ext}" for ext in ("png", "pdf")], 150)


def plot_histogram(stats: dict):
    """Published-style histogram: ours and the published study side by side (percent), counts on the bars."""
    ours = {int(k): v for k, v in stats["histogram"]["ours"].items()}
    pub = {int(k): v for k, v in stats["histogram"]["published"].items()}
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.4
    x = np.array(SCORES, float)
    ours_label = f"this study ({stats['histogram']['criterion']})"
    for offset, counts, label, colour in [(-width / 2, ours, ours_label, "#2166ac"),
                                          (width / 2, pub, "published (extension)", "#999999")]:
        total = sum(counts.values()) or 1
        heights = [100.0 * counts.get(s, 0) / total for s in SCORES]
        mean = sum(s * c for s, c in counts.items()) / total
        bars = ax.bar(x + offset, heights, width, label=f"{label}: n = {total}, mean {mean:.2f}", color=colour)
        ax.bar_label(bars, labels=[str(counts.get(s, 0)) for s in SCORES], fontsize=8)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # headroom for the legend above the bars
    ax.set_xticks(SCORES)
    ax.set_xlabel("Rating: Scene and Instance Realism (1 poor - 5 excellent)")
    ax.set_ylabel("Share of ratings (%); bar labels: counts")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def likert_rows(df: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """(label, shares of scores 1..5) per criterion, split by variant when there are two."""
    variants = sorted(df["variant"].unique())
    rows = []
    for c in [c for c in CRITERIA if c in set(df["criterion"])]:
        for v in variants:
            sub = df[(df["criterion"] == c) & (df["variant"] == v)]["score"]
            if sub.empty:
                continue
            shares = np.array([(sub == s).mean() for s in SCORES])
            label = CRITERION_LABELS[c] + (f" ({v})" if len(variants) > 1 else "")
            rows.append((label, shares))
    return rows


def plot_likert(df: pd.DataFrame):
    """Diverging stacked bars: the neutral score straddles zero; disagreement left, agreement right."""
    rows = likert_rows(df)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    for y, (_, shares) in enumerate(rows):
        left = -(shares[0] + shares[1] + shares[2] / 2.0)
        for s, share in enumerate(shares):
            ax.barh(y, 100 * share, left=100 * left, color=LIKERT_COLOURS[s], edgecolor="white",
                    label=str(s + 1) if y == 0 else None)
            if share >= 0.06:
                ax.text(100 * (left + share / 2), y, f"{100 * share:.0f}", ha="center", va="center", fontsize=7)
            left += share
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{abs(v):.0f}"))
    ax.set_xlabel("Share of ratings (%), score 3 centred")
    ax.legend(title="score", ncol=5, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def per_unit_means(df: pd.DataFrame) -> pd.DataFrame:
    """Raters x pictures (``image_id|variant``) mean score over criteria; NaN = not rated."""
    unit = df["image_id"].astype(str) + "|" + df["variant"].astype(str)
    return df.assign(unit=unit).pivot_table(index="rater_id", columns="unit", values="score", aggfunc="mean")


def plot_rater_boxplots(df: pd.DataFrame, stats: dict, seed: int):
    table = per_unit_means(df)
    raters = list(table.index)
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(raters) + 2), 4))
    data = [table.loc[r].dropna().to_numpy() for r in raters]
    ax.boxplot(data, tick_labels=raters, showfliers=False, widths=0.5)
    g = rng(seed, "raters", "plot", "jitter")
    for i, values in enumerate(data, 1):
        ax.scatter(i + g.uniform(-0.15, 0.15, values.size), values, s=8, alpha=0.5, color="#2166ac", zorder=3)
        m = stats["means"]["per_rater"].get(raters[i - 1])
        if m and m["mean"] is not None and None not in m["ci"]:
            ax.errorbar(i + 0.33, m["mean"], yerr=[[m["mean"] - m["ci"][0]], [m["ci"][1] - m["mean"]]], fmt="D",
                        color="#b2182b", ms=4, capsize=3, label="mean, 95% CI" if i == 1 else None)
    ax.set_ylim(0.8, 5.2)
    ax.set_ylabel("Mean score per picture (over criteria)")
    ax.set_xlabel("Rater")
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_heatmap(df: pd.DataFrame):
    table = per_unit_means(df)
    table = table[table.mean(axis=0).sort_values().index]
    fig, ax = plt.subplots(figsize=(min(16, 2 + 0.25 * table.shape[1]), 1 + 0.4 * table.shape[0]))
    # dark grey: not rated (the scale's midpoint is near white, so white would mislead)
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="#555555")
    im = ax.imshow(np.ma.masked_invalid(table.to_numpy(float)), aspect="auto", cmap=cmap, vmin=1, vmax=5,
                   interpolation="nearest")
    ax.set_yticks(range(table.shape[0]), table.index)
    if table.shape[1] <= 60:
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=90, fontsize=6)
    else:
        ax.set_xticks([])
    ax.set_xlabel("Picture (image id | variant), sorted by mean score; dark grey: not rated")
    ax.set_ylabel("Rater")
    fig.colorbar(im, ax=ax, label="mean score", fraction=0.03)
    return fig


def fit_band(x: np.ndarray, y: np.ndarray, grid: np.ndarray, seed: int, n_boot: int = 1000,
             level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares line on ``grid`` and its percentile bootstrap band (pairs resampled; seeded)."""
    slope, intercept = np.polyfit(x, y, 1)
    g = np.random.default_rng(seed)
    lines = []
    for _ in range(n_boot):
        idx = g.integers(0, x.size, x.size)
        if np.unique(x[idx]).size < 2:
            continue
        b1, b0 = np.polyfit(x[idx], y[idx], 1)
        lines.append(b0 + b1 * grid)
    lines = np.array(lines)
    a = (1 - level) / 2
    return intercept + slope * grid, np.quantile(lines, a, axis=0), np.quantile(lines, 1 - a, axis=0)


def plot_automatic_vs_human(df: pd.DataFrame, auto: pd.DataFrame | None, stats: dict, seed: int):
    metrics = sorted(auto["metric"].unique()) if auto is not None and not auto.empty else []
    if not metrics:
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "No automatic per-image scores were given\n(raters.automatic_scores is empty).",
                ha="center", va="center")
        return fig
    by_variant = "variant" in auto.columns and auto["variant"].notna().all()
    keys = ["image_id", "variant"] if by_variant else ["image_id"]
    human = human_means(df, None, by_variant).rename("human")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    taus = {r["metric"]: r for r in stats.get("automatic_vs_human", []) if r["criterion"] == "all"}
    for ax, metric in zip(axes[0], metrics):
        scores = auto[auto["metric"] == metric].groupby(keys)["value"].mean().rename("auto")
        joined = pd.concat([scores, human], axis=1, join="inner")
        x, y = joined["auto"].to_numpy(float), joined["human"].to_numpy(float)
        ax.scatter(x, y, s=14, alpha=0.7, color="#2166ac")
        if x.size >= 3 and np.unique(x).size >= 2:
            grid = np.linspace(x.min(), x.max(), 50)
            line, lo, hi = fit_band(x, y, grid, seed=int(rng(seed, "raters", "plot", metric).integers(2**31)))
            ax.plot(grid, line, color="#b2182b", lw=1.5, label="least squares")
            ax.fill_between(grid, lo, hi, color="#b2182b", alpha=0.2, label="95% bootstrap band")
        t = taus.get(metric)
        if t and t["tau"] is not None:
            ci = "" if None in t["ci"] else f" [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]"
            ax.set_title(f"{metric}: Kendall tau {t['tau']:.2f}{ci}, n = {t['n']}", fontsize=9)
        else:
            ax.set_title(metric, fontsize=9)
        ax.set_xlabel(f"{metric} (per image)")
        ax.set_ylabel("Mean human score")
        ax.legend(fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def write_figures(df: pd.DataFrame, auto: pd.DataFrame | None, stats: dict, out_dir: str | Path,
                  seed: int) -> list[Path]:
    """All figures of :data:`FIGURES` as PNG + PDF in ``out_dir``."""
    written = []
    written += save(plot_histogram(stats), out_dir, "histogram")
    written += save(plot_likert(df), out_dir, "likert_criteria")
    written += save(plot_rater_boxplots(df, stats, seed), out_dir, "rater_boxplots")
    written += save(plot_heatmap(df), out_dir, "rater_image_heatmap")
    written += save(plot_automatic_vs_human(df, auto, stats, seed), out_dir, "automatic_vs_human")
    return written


def figure_paths(out_dir: str | Path, names: Sequence[str] = FIGURES) -> list[Path]:
    return [Path(out_dir) / f"{n}.{ext}" for n in names for ext in ("png", "pdf")]
