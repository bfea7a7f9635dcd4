"""The human study's results as a table beside ``raters/stats.json``: ``raters/results.{md,csv,tex}``.

Rows: the extension's published histogram (its mean), then ours, all ratings, per criterion and per variant; columns:
mean score (1-5) with its percentile-bootstrap CI, the numbers of ratings and raters, and the agreement between
raters (Krippendorff's ordinal alpha with its CI, ICC(2,k)) where the row is a criterion or all ratings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from instdiff.core.io import read_json, write_text
from instdiff.core.tabular import csv_text, markdown_grid, tex_escape
from instdiff.raters.table import CRITERION_LABELS

HEADER = ["ratings", "mean (1-5)", "95% CI", "n ratings", "n raters", "Krippendorff α (ordinal)", "α 95% CI",
          "ICC(2,k)"]


def _f(v: Any, d: int = 2) -> str:
    return "–" if v is None else f"{v:.{d}f}"


def _ci(ci: Any, d: int = 2) -> str:
    return "–" if not ci or None in ci else f"[{ci[0]:.{d}f}, {ci[1]:.{d}f}]"


def _int(v: Any) -> str:
    return "–" if v is None else str(int(v))


def rows(stats: Mapping[str, Any]) -> list[list[str]]:
    pub = stats["published"]
    out = [[f"published (the extension's histogram, {pub['n']} ratings)", _f(pub["mean"]), _ci(pub.get("mean_ci")),
            _int(pub["n"]), "–", "–", "–", "–"]]
    means, agree = stats["means"], stats["agreement"]

    def row(label: str, m: Mapping[str, Any], key: str | None) -> list[str]:
        alpha = agree["krippendorff_alpha"].get(key, {}) if key else {}
        icc = agree["icc_2k"].get(key, {}) if key else {}
        return [label, _f(m["mean"]), _ci(m["ci"]), _int(m["n_ratings"]), _int(m["n_raters"]),
                _f(alpha.get("alpha")), _ci(alpha.get("ci")), _f(icc.get("icc"))]

    out.append(row("ours, all ratings", means["all"], "all"))
    for c, m in means["per_criterion"].items():
        out.append(row(f"ours, {CRITERION_LABELS.get(c, c)}", m, c))
    for v, m in means["per_variant"].items():
        out.append(row(f"ours, {v} images", m, None))
    return out


def write_results_table(stats_json: str | Path, md: str | Path, csv_path: str | Path, tex: str | Path,
                        banner: str | None = None) -> list[list[str]]:
    stats = read_json(stats_json)
    body = rows(stats)
    note = (f"{stats['n_ratings']} ratings of {stats['n_images']} images by {len(stats['raters'])} raters; CIs: "
            f"{stats['settings']['ci']} ({stats['settings']['n_boot']} resamples). Published: "
            f"{stats['published']['source']}.")
    lines = ["## Human study: realism ratings (1-5, 5 best)", ""] + ([f"> **{banner}**", ""] if banner else [])
    write_text(md, "\n".join(lines + markdown_grid(HEADER, body) + ["", note]) + "\n")
    write_text(csv_path, csv_text(HEADER, body))
    tex_lines = ([r"\fbox{\textbf{" + tex_escape(banner) + r"}}\par\smallskip"] if banner else []) + [
        r"\begin{tabular}{l" + "r" * (len(HEADER) - 1) + "}", r"\toprule",
        " & ".join(tex_escape(h) for h in HEADER) + r" \\", r"\midrule",
        *(" & ".join(tex_escape(c) for c in r) + r" \\" for r in body),
        r"\bottomrule", r"\end{tabular}", r"\par\smallskip{\footnotesize " + tex_escape(note) + "}"]
    write_text(tex, "\n".join(tex_lines) + "\n")
    return body
