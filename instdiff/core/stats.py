"""Uncertainty of reported numbers: bootstrap CIs over images and mean/CI across generation seeds.

Every per-image metric in this project (PiM, attribute accuracy, CLIP_local) is a *mean over images of a per-image
value*, so resampling images with replacement and recomputing the mean is the right bootstrap unit: it captures the
variation of the number had a different set of layouts been drawn.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

DEFAULT_SEED = 0
DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval (``low``/``high`` None when undefined)."""

    value: float
    low: float | None
    high: float | None
    n: int
    method: str
    level: float = DEFAULT_LEVEL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_mean_ci(
    values: Sequence[float],
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    min_n: int = 2,
) -> Interval:
    """Percentile bootstrap CI of the mean of ``values`` (one value per image, per rating, ...).

    The one bootstrap of independent values in the project: report tables, the LLM stage's CLIP score and the
    published human-study histogram all call it.

    Definition: draw ``resamples`` samples of size n with replacement from ``values`` using
    ``numpy.random.default_rng(seed)``; the interval is the (1-level)/2 and (1+level)/2 quantiles (numpy's default
    linear interpolation) of the resampled means. The point estimate is the plain mean. Non-finite values (images a
    metric skips, e.g. no instances) are dropped first. With fewer than ``min_n`` values the interval is undefined
    (None); ``min_n=1`` reports a single value's degenerate interval (every resample is that value).
    """
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(float("nan"), None, None, 0, "bootstrap-percentile", level)
    mean = float(x.mean())
    if n < max(1, min_n):
        return Interval(mean, None, None, n, "bootstrap-percentile", level)
    rng = np.random.default_rng(seed)
    # Chunked so 5,000 images x 2,000 resamples does not need 80 MB at once.
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(mean, float(low), float(high), n, "bootstrap-percentile", level)


def per_image_values(per_image: Iterable[dict[str, Any]] | None, key: str) -> list[float]:
    """The ``key`` value of each per-image record (records without it, or with null, are skipped)."""
    out = []
    for rec in per_image or []:
        v = rec.get(key) if isinstance(rec, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def seeds_mean_ci(values: Sequence[float], level: float = DEFAULT_LEVEL,
                  bounds: tuple[float | None, float | None] = (None, None)) -> Interval:
    """Mean across generation seeds with a Student-t CI that stays inside the metric's range.

    The t-interval ``m +- t_{(1+level)/2, k-1} * sd / sqrt(k)`` (sd with ddof=1) is computed on a scale where the
    range ``bounds = (lo, hi)`` is unbounded and mapped back: the logit of ``(v - lo) / (hi - lo)`` when both
    bounds are finite (AP, PiM, accuracy: fractions or percentages), the log of ``v - lo`` with only a lower bound
    (FID), the values themselves with none. A plain t-interval on 2 seeds of a percentage printed R 3.1
    [-10.1, 16.4]; on the logit scale the same seeds give an interval inside [0, 100] (wide, as 2 seeds warrant).
    Values on a bound are moved inside by ``1e-6`` of the range (or of ``max(1, |v|)``) before the transform.
    The point estimate is the plain mean of the values. One seed gives no interval (None).
    """
    from scipy import stats as sps

    lo, hi = bounds
    x = np.asarray(values, dtype=np.float64)
    k = int(x.size)
    method = "t-logit-across-seeds" if lo is not None and hi is not None else \
        "t-log-across-seeds" if lo is not None else "t-across-seeds"
    if k == 0:
        return Interval(float("nan"), None, None, 0, method, level)
    mean = float(x.mean())
    if k < 2:
        return Interval(mean, None, None, k, method, level)
    if lo is not None and hi is not None:
        eps = 1e-6 * (hi - lo)
        u = (np.clip(x, lo + eps, hi - eps) - lo) / (hi - lo)
        z = np.log(u / (1.0 - u))
        back = lambda t: lo + (hi - lo) / (1.0 + math.exp(-t))  # noqa: E731
    elif lo is not None:
        z = np.log(np.maximum(x - lo, 1e-6 * max(1.0, float(np.abs(x).max()))))
        back = lambda t: lo + math.exp(t)  # noqa: E731
    else:
        z = x
        back = float
    centre = float(z.mean())
    half = float(sps.t.ppf((1.0 + level) / 2.0, k - 1) * z.std(ddof=1) / math.sqrt(k))
    return Interval(mean, back(centre - half), back(centre + half), k, method, level)


def seed_spread(values: Sequence[float]) -> dict[str, Any]:
    """What the seeds themselves show, beside an interval: their number, mean, min, max and sample sd (ddof=1;
    None for one seed). Inside the metric's range by construction."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    k = int(x.size)
    if k == 0:
        return {"k": 0, "mean": float("nan"), "min": None, "max": None, "sd": None}
    return {"k": k, "mean": float(x.mean()), "min": float(x.min()), "max": float(x.max()),
            "sd": float(x.std(ddof=1)) if k > 1 else None}
