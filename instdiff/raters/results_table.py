"""The human study's results as a table (``raters/table.{md,csv,tex}``) beside ``raters/stats.json``.

One row per number a reader looks for: the mean score (1–5) overall, per criterion, per variant and per rater, the
agreement (Krippendorff's α, ordinal, and ICC(2,k)), overall and per criterion, and Kendall's τ between the human
means and each automatic score; each with its 95% CI and n, and the extension's published number where one exists
(its mean of the published rating histogram). Everything comes from the stats :func:`instdiff.raters.analysis.
analyse` wrote; nothing is recomputed here.

(The ratings table *read* by the study, one row per answer, is :mod:`instdiff.raters.table`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from instdiff.core.errors import InputError
from instdiff.core.io import write_text
from instdiff.core.tabular import csv_text, latex_tabular, markdown_grid
from instdiff.raters.table import CRITERION_LABELS

CSV_COLUMNS = ["quantity", "group", "value", "ci_low", "ci_high", "n", "published", "published_ci_low",
               "published_ci_high"]
TEXT_COLUMNS = ["Quantity", "Group", "Ours [95% CI]", "n", "Published [95% CI]"]
TITLE = "Human study: realism ratings (1–5, 5 best) and rater agreement"


def _ci(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    ci = entry.get("ci") or [None, None]
    return ci[0], ci[1]


def results_rows(stats: Mapping[str, Any]) -> list[dict]:
    """The table's rows from a ``stats.json`` document."""
    rows: list[dict] = []

    def add(quantity, group, entry, n_key, published=None):
        if not entry:
            return
        value = entry.get("mean", entry.get("alpha", entry.get("icc", entry.get("tau"))))
        low, high = _ci(entry)
        row = {"quantity": quantity, "group": group, "value": value, "ci_low": low, "ci_high": high,
               "n": entry.get(n_key), "published": None, "published_ci_low": None, "published_ci_high": None}
        if published:
            row["published"] = published["mean"]
            row["published_ci_low"], row["published_ci_high"] = published["mean_ci"]
        rows.append(row)

    try:
        means, agreement = stats["means"], stats["agreement"]
    except (KeyError, TypeError):
        raise InputError(None, "not the human study's stats (no 'means' / 'agreement')",
                         "rerun the raters_stats rule", "means") from None
    label = (lambda c: CRITERION_LABELS.get(c, c))
    add("mean score", "all ratings", means["all"], "n_ratings", stats.get("published"))
    for c, m in means.get("per_criterion", {}).items():
        add("mean score", label(c), m, "n_ratings")
    for v, m in means.get("per_variant", {}).items():
        add("mean score", f"{v} images", m, "n_ratings")
    for r, m in means.get("per_rater", {}).items():
        add("mean score", f"rater {r}", m, "n_ratings")
    for key, name, n_key in (("krippendorff_alpha", "Krippendorff's α (ordinal)", "n_units"),
                             ("icc_2k", "ICC(2,k)", "n_units")):
        per = agreement.get(key, {})
        add(name, "all criteria", per.get("all"), n_key)
        for c, e in per.items():
            if c != "all":
                add(name, label(c), e, n_key)
    for row in stats.get("automatic_vs_human", []):
        if row.get("criterion") == "all":
            add(f"Kendall's τ, human vs {row['metric']}", "all criteria", row, "n")
    return rows


def _num(v: Any, decimals: int = 2) -> str:
    return "–" if v is None else f"{v:.{decimals}f}"


def _texts(rows: Sequence[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        ours = _num(r["value"]) + ("" if r["ci_low"] is None else f" [{_num(r['ci_low'])}, {_num(r['ci_high'])}]")
        pub = "–" if r["published"] is None else _num(r["published"]) + (
            "" if r["published_ci_low"] is None else f" [{_num(r['published_ci_low'])}, {_num(r['published_ci_high'])}]")
        out.append([r["quantity"], r["group"], ours, "" if r["n"] is None else str(int(r["n"])), pub])
    return out


def notes(stats: Mapping[str, Any]) -> list[str]:
    settings = stats.get("settings") or {}
    pub = stats.get("published") or {}
    out = [f"{stats.get('n_ratings')} ratings of {stats.get('n_images')} images by {len(stats.get('raters', []))} "
           f"raters; n: ratings (means), rated units (agreement) or images (τ).",
           f"CIs: {settings.get('ci', 'percentile bootstrap')} ({settings.get('n_boot')} resamples, seed "
           f"{settings.get('seed')}).",
           "α and ICC(2,k) near 1: raters agree; τ: rank correlation of the per-image human mean with the automatic "
           "score."]
    if pub:
        out.append(f"Published: the mean of the extension's rating histogram ({pub.get('n')} ratings; its CI a "
                   f"bootstrap of those ratings); source: {pub.get('source')}.")
    return out


def write_results_table(stats: Mapping[str, Any], outputs: Sequence[str | Path], banner: str | None = None) -> list[dict]:
    """Write the table in each format named by the outputs' suffixes (.md, .csv, .tex); returns its rows.
    ``banner``: a test run says so above the Markdown table and first among the LaTeX notes (instdiff.core.banner)."""
    rows = results_rows(stats)
    texts = _texts(rows)
    foot = ([banner] if banner else []) + notes(stats)
    for out in outputs:
        suffix = Path(out).suffix
        if suffix == ".csv":
            write_text(out, csv_text(CSV_COLUMNS, [["" if r[k] is None else r[k] for k in CSV_COLUMNS] for r in rows]))
        elif suffix == ".md":
            lines = ([f"> **{banner}**", ""] if banner else []) + [f"## {TITLE}", "", *markdown_grid(TEXT_COLUMNS, texts),
                                                                  "", *(f"{n}  " for n in foot[bool(banner):])]
            write_text(out, "\n".join(lines).rstrip() + "\n")
        elif suffix == ".tex":
            write_text(out, latex_tabular(TEXT_COLUMNS, texts, TITLE, "tab:raters", foot))
        else:
            raise InputError(out, f"unknown table format {suffix!r}", "use .md, .csv or .tex")
    return rows
