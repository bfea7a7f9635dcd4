"""Analysis of the human study: means with bootstrap CIs, inter-rater agreement, automatic-vs-human correlation.

Input is the ratings table of :mod:`instdiff.raters.table` (one row per answer). Definitions used throughout:

* **unit** — one rated picture, i.e. one (``image_id``, ``variant``) pair. Agreement statistics of a single criterion
  use these units; the pooled ("all") agreement uses (``image_id``, ``variant``, ``criterion``) units.
* **mean** — the mean of all scores in the subset (every answer weighs the same).
* **bootstrap CI** — percentile interval of the mean over ``n_boot`` resamples drawn by a numpy Generator seeded from
  the run seed. Ratings of one picture are correlated, so the resampling unit is the picture, not the answer
  (a cluster bootstrap); when the subset holds two or more raters the raters are resampled too (two-level
  bootstrap, so the interval also covers "another group of raters"), following the practice in
  ``reference/peers.md`` §6. Resampled units and raters enter with their multiplicity.
* **Krippendorff's alpha (ordinal)** — ``1 - D_o / D_e`` with the ordinal distance metric over the value domain
  1..5, computed by the ``krippendorff`` package on the raters x units matrix (missing = NaN). Its CI is a
  percentile bootstrap over units.
* **ICC(2,k)** — Shrout & Fleiss two-way random effects, absolute agreement, reliability of the mean of k raters
  (pingouin's ``ICC(A,k)`` / ``ICC2k``), with pingouin's F-distribution 95% CI. pingouin needs complete data: units
  some rater skipped are dropped (the count used is reported).
* **Kendall tau** — tau-b (ties corrected, ``scipy.stats.kendalltau``) between an automatic per-image score and the
  mean human score of that image (over raters; over all criteria or one criterion), CI by percentile bootstrap
  over images.

The published study (``instdiff/assets/published_human_study.json``: histogram counts 1:18, 2:41, 3:27, 4:13, 5:1)
is analysed alongside: its mean, 238 / 100 = 2.38, is recomputed from the counts, never copied.
"""

from __future__ import annotations

import csv
import json
import logging
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from instdiff.core.errors import InputError
from instdiff.core.io import write_json
from instdiff.raters.table import CRITERIA, SCORES, human_means, read_ratings
from instdiff.core.seeding import derive_seed
from instdiff.core.stats import bootstrap_mean_ci

log = logging.getLogger(__name__)

DEFAULT_N_BOOT = 2000
DEFAULT_LEVEL = 0.95


# --------------------------------------------------------------------------------------------- published study

def published_study() -> dict:
    """The published study as shipped data: counts per score (int keys), n, and what the authors reported."""
    text = resources.files("instdiff").joinpath("assets/published_human_study.json").read_text()
    data = json.loads(text)
    data["counts"] = {int(k): int(v) for k, v in data["counts"].items()}
    return data


def scores_from_counts(counts: dict[int, int]) -> np.ndarray:
    """Expand a histogram {score: count} into the individual scores it summarises."""
    return np.repeat(np.array(sorted(counts), dtype=float), [counts[k] for k in sorted(counts)])


def histogram_mean(counts: dict[int, int]) -> float:
    """Mean score of a histogram: sum(score * count) / sum(count)."""
    total = sum(counts.values())
    if total == 0:
        raise ValueError("empty histogram")
    return sum(k * v for k, v in counts.items()) / total


def histogram(scores: Iterable[int]) -> dict[int, int]:
    """Counts of each score 1..5 (zeros kept, so histograms line up)."""
    values = list(scores)
    return {s: int(sum(1 for v in values if v == s)) for s in SCORES}


# ------------------------------------------------------------------------------------------------ bootstrap

def _percentile_ci(samples: np.ndarray, level: float) -> list[float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return [None, None]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]


def _multiplicities(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """(n_boot, n) matrix: how often each of n items is drawn in each resample with replacement."""
    idx = rng.integers(0, n, size=(n_boot, n))
    out = np.zeros((n_boot, n), dtype=np.int64)
    np.add.at(out, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1)
    return out


def bootstrap_mean(df: pd.DataFrame, seed: int, n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_LEVEL) -> dict:
    """Mean score of ``df`` with a cluster (and, with >= 2 raters, two-level) percentile bootstrap CI.

    Returns ``{"mean", "ci": [lo, hi], "n_ratings", "n_units", "n_raters", "resample"}``. The same seed gives
    the same interval.
    """
    if df.empty:
        return {"mean": None, "ci": [None, None], "n_ratings": 0, "n_units": 0, "n_raters": 0, "resample": None}
    unit = df["image_id"].astype(str) + "\x1f" + df["variant"].astype(str)
    sums = pd.crosstab(unit, df["rater_id"], values=df["score"], aggfunc="sum").fillna(0.0).to_numpy(float)
    counts = pd.crosstab(unit, df["rater_id"]).to_numpy(float)
    n_units, n_raters = counts.shape
    rng = np.random.default_rng(seed)
    w_units = _multiplicities(rng, n_boot, n_units)
    if n_raters >= 2:
        w_raters = _multiplicities(rng, n_boot, n_raters)
        resample = "units+raters"
    else:
        w_raters = np.ones((n_boot, n_raters), dtype=np.int64)
        resample = "units"
    num = np.einsum("bi,ir,br->b", w_units, sums, w_raters)
    den = np.einsum("bi,ir,br->b", w_units, counts, w_raters)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = num / den  # den can be 0 in sparse designs when no resampled rater rated a resampled unit
    return {
        "mean": float(df["score"].mean()),
        "ci": _percentile_ci(boot, level),
        "n_ratings": int(len(df)),
        "n_units": int(n_units),
        "n_raters": int(n_raters),
        "resample": resample,
        "n_boot_valid": int(np.isfinite(boot).sum()),  # < n_boot when sparse designs gave empty resamples
    }


def bootstrap_sample_mean(values: np.ndarray, seed: int, n_boot: int = DEFAULT_N_BOOT,
                          level: float = DEFAULT_LEVEL) -> dict:
    """Mean of independent scores with a percentile bootstrap CI (used for the published histogram).

    :func:`instdiff.core.stats.bootstrap_mean_ci`; a single score gives itself as the interval.
    """
    iv = bootstrap_mean_ci(np.asarray(values, dtype=float), level=level, resamples=n_boot, seed=seed, min_n=1)
    return {"mean": iv.value, "ci": [iv.low, iv.high], "n_ratings": iv.n}


def mean_table(df: pd.DataFrame, seed: int, n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_LEVEL) -> dict:
    """Means with CIs overall (``all``), per criterion, per rater, per variant and per variant x criterion.

    Every subset gets its own seed derived from ``seed`` and the subset's name, so adding a rater does not change
    the interval of another.
    """
    def boot(sub, *name):
        return bootstrap_mean(sub, derive_seed(seed, "raters", "mean", *name), n_boot, level)

    return {
        "all": boot(df, "all"),
        "per_criterion": {c: boot(g, "criterion", c) for c, g in _groups(df, "criterion", CRITERIA)},
        "per_rater": {r: boot(g, "rater", r) for r, g in _groups(df, "rater_id")},
        "per_variant": {v: boot(g, "variant", v) for v, g in _groups(df, "variant")},
        "per_variant_criterion": {
            v: {c: boot(gc, "variant", v, "criterion", c) for c, gc in _groups(g, "criterion", CRITERIA)}
            for v, g in _groups(df, "variant")
        },
    }


def _groups(df: pd.DataFrame, column: str, order: Sequence[str] | None = None):
    present = list(dict.fromkeys(df[column]))
    keys = [k for k in order if k in present] if order else sorted(present)
    for key in keys:
        yield key, df[df[column] == key]


# ------------------------------------------------------------------------------------------------ agreement

def reliability_matrix(df: pd.DataFrame, criterion: str | None = None) -> tuple[np.ndarray, list[str], list[str]]:
    """Raters x units matrix of scores (NaN = not rated), for one criterion or pooled over criteria (None)."""
    if criterion is not None:
        df = df[df["criterion"] == criterion]
        unit = df["image_id"].astype(str) + "|" + df["variant"].astype(str)
    else:
        unit = df["image_id"].astype(str) + "|" + df["variant"].astype(str) + "|" + df["criterion"].astype(str)
    table = df.assign(unit=unit).pivot(index="rater_id", columns="unit", values="score").sort_index().sort_index(axis=1)
    return table.to_numpy(float), list(table.index), list(table.columns)


def _alpha(matrix: np.ndarray) -> float:
    import krippendorff

    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal", value_domain=SCORES))


def _unit_coincidences(matrix: np.ndarray) -> np.ndarray:
    """Per unit, its contribution to Krippendorff's coincidence matrix, flattened: (n_units, V*V).

    o_u[c, k] = (n_uc * n_uk - [c == k] * n_uc) / (m_u - 1), with n_uc the count of value c in unit u and m_u its
    number of values (units with m_u < 2 contribute nothing).
    """
    counts = np.stack([np.sum(matrix == v, axis=0) for v in SCORES], axis=1).astype(float)  # (units, V)
    m = counts.sum(1)
    pairs = counts[:, :, None] * counts[:, None, :] - np.einsum("uc,ck->uck", counts, np.eye(len(SCORES)))
    with np.errstate(invalid="ignore", divide="ignore"):
        o = np.where((m >= 2)[:, None, None], pairs / (m - 1)[:, None, None], 0.0)
    return o.reshape(len(m), -1)


def _ordinal_alpha_from_coincidences(o: np.ndarray) -> np.ndarray:
    """Ordinal alpha = 1 - (n - 1) * sum(o * delta) / sum(n_c * n_k * delta) for a batch of coincidence matrices
    (B, V*V), with delta_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 (Krippendorff 2011, ordinal metric)."""
    v = len(SCORES)
    o = o.reshape(-1, v, v)
    n_c = o.sum(2)
    n = n_c.sum(1)
    cs = np.cumsum(n_c, axis=1)
    lo = np.minimum.outer(np.arange(v), np.arange(v))
    hi = np.maximum.outer(np.arange(v), np.arange(v))
    between = cs[:, hi] - cs[:, lo] + n_c[:, lo]  # sum of n_g for g from min(c,k) to max(c,k)
    delta = (between - (n_c[:, :, None] + n_c[:, None, :]) / 2.0) ** 2
    d_o = np.sum(o * delta, axis=(1, 2))
    d_e = np.sum(n_c[:, :, None] * n_c[:, None, :] * delta, axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d_e > 0, 1.0 - (n - 1) * d_o / d_e, np.nan)


def krippendorff_alpha(df: pd.DataFrame, criterion: str | None, seed: int, n_boot: int = 1000,
                       level: float = DEFAULT_LEVEL) -> dict:
    """Ordinal Krippendorff's alpha of one criterion (or pooled) with a percentile bootstrap CI over units.

    The estimate comes from the ``krippendorff`` package. The bootstrap resamples units with replacement; a
    resample's coincidence matrix is the multiplicity-weighted sum of the units' contributions, from which alpha is
    recomputed with the same ordinal formula (checked against the package in the tests) — thousands of resamples
    cost one matrix product. Resamples with a single value (no expected disagreement) are skipped.
    Only units rated by at least two raters carry information (alpha's pairable values); others are dropped first.
    Returns ``alpha: None`` with a ``note`` when there is nothing to agree on (one rater, or a single value used).
    """
    matrix, raters, _ = reliability_matrix(df, criterion)
    matrix = matrix[:, np.sum(np.isfinite(matrix), axis=0) >= 2]
    result = {"alpha": None, "ci": [None, None], "n_units": int(matrix.shape[1]), "n_raters": len(raters),
              "level_of_measurement": "ordinal"}
    if len(raters) < 2 or matrix.shape[1] < 2:
        return {**result, "note": "needs at least two raters rating at least two common units"}
    if np.unique(matrix[np.isfinite(matrix)]).size < 2:
        return {**result, "note": "every answer has the same value: expected disagreement is zero, alpha undefined"}
    weights = _multiplicities(np.random.default_rng(seed), n_boot, matrix.shape[1])
    boot = _ordinal_alpha_from_coincidences(weights @ _unit_coincidences(matrix))
    return {**result, "alpha": _alpha(matrix), "ci": _percentile_ci(boot, level),
            "n_boot_valid": int(np.isfinite(boot).sum())}


def _finite(x) -> float | None:
    """JSON has no NaN: undefined numbers are written as null."""
    x = float(x)
    return x if np.isfinite(x) else None


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return _finite(obj)
    return obj


def icc_2k(df: pd.DataFrame, criterion: str | None) -> dict:
    """ICC(2,k) (two-way random, absolute agreement, mean of k raters) with its 95% CI, via pingouin.

    Units missing a rater are dropped (pingouin needs a complete design); ``n_units`` is what was used.
    """
    import pingouin as pg

    matrix, raters, units = reliability_matrix(df, criterion)
    complete = np.all(np.isfinite(matrix), axis=0)
    result = {"icc": None, "ci": [None, None], "n_units": int(complete.sum()), "n_raters": len(raters),
              "n_units_dropped": int((~complete).sum()), "type": "ICC(2,k)"}
    if len(raters) < 2 or complete.sum() < 5:
        return {**result, "note": "needs at least two raters who all rated at least five common units"}
    long = pd.DataFrame(
        [(units[j], raters[i], matrix[i, j]) for j in np.flatnonzero(complete) for i in range(len(raters))],
        columns=["unit", "rater", "score"],
    )
    with np.errstate(invalid="ignore", divide="ignore"):  # zero residual variance (perfect agreement) -> CI NaN
        table = pg.intraclass_corr(data=long, targets="unit", raters="rater", ratings="score")
    # pingouin >= 0.7 names it ICC(A,k); older releases ICC2k.
    row = table[table["Type"].isin(["ICC(A,k)", "ICC2k"])].iloc[0]
    ci_col = "CI95" if "CI95" in table.columns else "CI95%"
    if not np.isfinite(row["ICC"]):
        return {**result, "note": "ICC undefined: no variance between units"}
    return {**result, "icc": float(row["ICC"]), "ci": [_finite(x) for x in row[ci_col]], "F": _finite(row["F"]),
            "df1": float(row["df1"]), "df2": float(row["df2"]), "p": _finite(row["pval"])}


def agreement(df: pd.DataFrame, seed: int, n_boot: int = 1000, level: float = DEFAULT_LEVEL) -> dict:
    """Krippendorff's alpha and ICC(2,k) per criterion and pooled (key ``all``)."""
    criteria = [c for c in CRITERIA if c in set(df["criterion"])]
    out: dict = {"krippendorff_alpha": {}, "icc_2k": {}}
    for name in [*criteria, "all"]:
        crit = None if name == "all" else name
        out["krippendorff_alpha"][name] = krippendorff_alpha(df, crit, derive_seed(seed, "raters", "alpha", name),
                                                              n_boot, level)
        out["icc_2k"][name] = icc_2k(df, crit)
    return out


# ------------------------------------------------------------------------------------------ automatic scores

AUTO_COLUMNS = ["image_id", "metric", "value"]


def read_automatic_scores(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Per-image automatic scores: CSV with columns image_id, metric, value (optional variant), or JSON holding a
    list of such records (or an object whose ``per_image`` is that list)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = []
    for path in map(Path, paths):
        if not path.is_file():
            raise InputError(path, "automatic score file does not exist", "run the LLM stage or correct the path")
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            records = data.get("per_image") if isinstance(data, dict) else data
            if not isinstance(records, list):
                raise InputError(path, "expected a list of {image_id, metric, value} records", "rewrite the file",
                                 "per_image")
            frame = pd.DataFrame.from_records(records)
        else:
            with path.open(newline="") as fh:
                frame = pd.DataFrame(list(csv.DictReader(fh)))
        missing = [c for c in AUTO_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(path, f"lacks column(s) {', '.join(missing)}", "give image_id, metric, value", missing[0])
        frame = frame.copy()
        frame["image_id"] = frame["image_id"].astype(str)
        values = pd.to_numeric(frame["value"], errors="coerce")
        bad = values.isna() & frame["value"].notna() & (frame["value"].astype(str).str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(path, f"record {i + 1}: value {frame['value'].iloc[i]!r} is not a number",
                             "write numbers (leave the value empty for a missing score)", "value")
        frame["value"] = values
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    return out.dropna(subset=["value"])


def kendall_tau(x: np.ndarray, y: np.ndarray, seed: int, n_boot: int = DEFAULT_N_BOOT,
                level: float = DEFAULT_LEVEL) -> dict:
    """Kendall tau-b of paired x, y (scipy) with its p-value and a percentile bootstrap CI over pairs.

    The bootstrap reuses the pairwise sign matrices: a resample's tau-b is
    sum sgn(dx) sgn(dy) / sqrt(sum sgn(dx)^2 * sum sgn(dy)^2) over the rows and columns it drew (a pair drawn
    twice is a tie in both, exactly as scipy counts it), so no per-resample sorting is needed.
    """
    from scipy.stats import kendalltau

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = x.size
    if n < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return {"tau": None, "ci": [None, None], "p": None, "n": int(n), "note": "needs >= 3 pairs with variation"}
    res = kendalltau(x, y)
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boot = np.empty(n_boot)
    batch = max(1, 2_000_000 // (n * n))  # bounds memory at ~16 MB per sign array
    for start in range(0, n_boot, batch):
        block = idx[start:start + batch]
        bx = sx[block[:, :, None], block[:, None, :]]
        by = sy[block[:, :, None], block[:, None, :]]
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[start:start + batch] = (bx * by).sum((1, 2)) / np.sqrt((bx * bx).sum((1, 2)) * (by * by).sum((1, 2)))
    return {"tau": float(res.statistic), "ci": _percentile_ci(boot, level), "p": _finite(res.pvalue), "n": int(n)}


def automatic_vs_human(df: pd.DataFrame, auto: pd.DataFrame, seed: int, n_boot: int = DEFAULT_N_BOOT,
                       level: float = DEFAULT_LEVEL) -> list[dict]:
    """Kendall tau between each automatic metric and the mean human score per image (all criteria and each one).

    Scores carrying a ``variant`` column are matched to the ratings of that variant; scores without one describe
    the image whatever the variant, and are matched to the human mean over both variants.
    """
    out = []
    by_variant = "variant" in auto.columns and auto["variant"].notna().all()
    keys = ["image_id", "variant"] if by_variant else ["image_id"]
    criteria = [c for c in CRITERIA if c in set(df["criterion"])]
    for metric, g in auto.groupby("metric", sort=True):
        scores = g.groupby(keys)["value"].mean()
        for criterion in [None, *criteria]:
            human = human_means(df, criterion, by_variant)
            joined = pd.concat([scores.rename("auto"), human.rename("human")], axis=1, join="inner")
            name = criterion or "all"
            res = kendall_tau(joined["auto"].to_numpy(), joined["human"].to_numpy(),
                              derive_seed(seed, "raters", "tau", metric, name), n_boot, level)
            out.append({"metric": str(metric), "criterion": name, **res})
    return out


# ---------------------------------------------------------------------------------------------------- driver

def analyse(df: pd.DataFrame, auto: pd.DataFrame | None, seed: int, n_boot: int = DEFAULT_N_BOOT,
            n_boot_alpha: int = 1000, level: float = DEFAULT_LEVEL) -> dict:
    """Every statistic of the human study as one JSON-ready dict (``values`` holds the headline numbers)."""
    pub = published_study()
    pub_mean = histogram_mean(pub["counts"])
    published = {
        "counts": {str(k): v for k, v in pub["counts"].items()},
        "n": int(sum(pub["counts"].values())),
        "mean": pub_mean,
        "mean_ci": bootstrap_sample_mean(scores_from_counts(pub["counts"]), derive_seed(seed, "raters", "published"),
                                         n_boot, level)["ci"],
        "reported_mean": pub["reported"]["mean"],
        "reproduces_reported_mean": bool(round(pub_mean, 2) == pub["reported"]["mean"]),
        # Reported in the blog text, not recomputable: no per-rater data was published.
        "reported_rater_means_range": pub["reported"]["rater_means_range"],
        "source": pub["source"],
    }
    means = mean_table(df, seed, n_boot, level)
    agree = agreement(df, seed, n_boot_alpha, level)
    auto_rows = automatic_vs_human(df, auto, seed, n_boot, level) if auto is not None and not auto.empty else []
    hist_source = df[df["criterion"] == "overall"] if "overall" in set(df["criterion"]) else df
    values = {
        "mean_all": means["all"]["mean"],
        "mean_all_ci_low": means["all"]["ci"][0],
        "mean_all_ci_high": means["all"]["ci"][1],
        "alpha_ordinal_all": agree["krippendorff_alpha"]["all"]["alpha"],
        "icc_2k_all": agree["icc_2k"]["all"]["icc"],
        "published_mean": pub_mean,
    }
    for c, m in means["per_criterion"].items():
        values[f"mean_{c}"] = m["mean"]
    for v, m in means["per_variant"].items():
        values[f"mean_{v}"] = m["mean"]
    for row in auto_rows:
        if row["criterion"] == "all":
            values[f"tau_{row['metric']}"] = row["tau"]
    return _json_safe({
        "n_ratings": int(len(df)),
        "n_images": int(df["image_id"].nunique()),
        "n_units": int(df[["image_id", "variant"]].drop_duplicates().shape[0]),
        "raters": sorted(df["rater_id"].unique().tolist()),
        "criteria": [c for c in CRITERIA if c in set(df["criterion"])],
        "variants": sorted(df["variant"].unique().tolist()),
        "settings": {"seed": int(seed), "n_boot": int(n_boot), "n_boot_alpha": int(n_boot_alpha), "level": level,
                     "ci": "percentile bootstrap; means: units (+ raters when >= 2) resampled"},
        "values": values,
        "means": means,
        "agreement": agree,
        "automatic_vs_human": auto_rows,
        "histogram": {"criterion": "overall" if hist_source is not df else "all",
                      "ours": {str(k): v for k, v in histogram(hist_source["score"]).items()},
                      "published": published["counts"]},
        "published": published,
    })


def run_study(ratings: str | Path | Sequence[str | Path], out_json: str | Path, figures_dir: str | Path, seed: int,
              automatic: Sequence[str | Path] = (), images_dir: str | Path | None = None,
              n_boot: int = DEFAULT_N_BOOT, n_boot_alpha: int = 1000, level: float = DEFAULT_LEVEL,
              tables: Sequence[str | Path] = (), banner: str | None = None) -> dict:
    """The Snakemake stage: validate the ratings (against the image folder when given), write ``stats.json``,
    every figure of :mod:`instdiff.raters.plots` (PNG + PDF) and the results table in each format of ``tables``
    (:mod:`instdiff.raters.results_table`: .md, .csv, .tex)."""
    from instdiff.raters.images import discover_images
    from instdiff.raters.plots import write_figures
    from instdiff.raters.results_table import write_results_table

    images = {img.image_id for img in discover_images(images_dir)} if images_dir else None
    df = read_ratings(ratings, known_images=images)
    auto = read_automatic_scores(list(automatic)) if automatic else None
    log.info("human study: %d ratings, %d raters, %d images", len(df), df["rater_id"].nunique(),
             df["image_id"].nunique())
    stats = analyse(df, auto, seed, n_boot, n_boot_alpha, level)
    write_figures(df, auto, stats, figures_dir, seed)
    write_results_table(stats, tables, banner=banner)
    write_json(out_json, stats)
    return stats
