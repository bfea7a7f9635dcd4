"""Two runs side by side: ``instdiff compare RUN_A RUN_B``, Δ = B − A per headline measure with a 95% CI.

Δ is always the difference of the two files' values (the numbers the tables and ``instdiff summary`` show).
The measures and the reading of each run are :mod:`instdiff.report.summary`'s. The interval of Δ is one of:

- ``paired-bootstrap``: both files hold per-image values (PiM, attribute accuracy and CLIP_local) for the same set of
  images: the percentile bootstrap (:func:`instdiff.core.stats.bootstrap_mean_ci`) of the mean of the per-image
  differences B_i − A_i, shifted by Δ − mean(B_i − A_i) so that it surrounds Δ (no shift for PiM, whose file value is
  the mean of its per-image values; attribute accuracy counts instances, so its file value may differ a little).
- ``approx-independent``: otherwise (COCO AP, whose interval the writer bootstraps from the detections; runs that
  scored different images), the interval combines the two runs' intervals as if they were independent and
  symmetric: Δ − sqrt((A_high − A)² + (B − B_low)²) to Δ + sqrt((A − A_low)² + (B_high − B)²). Approximate: it
  ignores that both runs scored the same layouts (too wide when they did) and the skew of bootstrap intervals.
- none: a run has no interval for the measure (one image, FID).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from instdiff.core.stats import bootstrap_mean_ci
from instdiff.report.summary import HEADLINES, SMOKE_NOTE, aligned, interval, open_run, run_value


@dataclass(frozen=True)
class CompareRow:
    measure: str
    label: str
    decimals: int
    a: float | None = None
    a_low: float | None = None
    a_high: float | None = None
    b: float | None = None
    b_low: float | None = None
    b_high: float | None = None
    delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    ci_method: str | None = None      # paired-bootstrap | approx-independent | None
    n_paired: int | None = None       # images both runs scored (paired only)
    images_differ: bool = False       # both have per-image values, but not for the same images: not paired
    status: str = "ok"                # ok | missing in A | missing in B | missing in both

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    run_a: str
    run_b: str
    smoke: tuple[bool, bool]
    rows: tuple[CompareRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"run_a": self.run_a, "run_b": self.run_b, "smoke": list(self.smoke),
                "rows": [r.to_dict() for r in self.rows]}


def independent_interval(a: float, a_low: float, a_high: float, b: float, b_low: float,
                         b_high: float) -> tuple[float, float]:
    """The approximate interval of B − A from two independent intervals (see the module docstring)."""
    d = b - a
    return d - math.hypot(a_high - a, b - b_low), d + math.hypot(a - a_low, b_high - b)


def compare(run_a: str | Path, run_b: str | Path, configfile_a: str | Path | None = None,
            configfile_b: str | Path | None = None) -> Comparison:
    ra, rb = open_run(run_a, configfile_a), open_run(run_b, configfile_b)
    boot = ra.bootstrap                           # one bootstrap setting for both runs' paired differences
    rows = []
    for h in HEADLINES:
        va, vb = run_value(ra, h), run_value(rb, h)
        base = {"measure": h.measure, "label": h.label, "decimals": h.decimals}
        if va is None or vb is None:
            which = "both" if va is None and vb is None else ("A" if va is None else "B")
            rows.append(CompareRow(**base, status=f"missing in {which}",
                                   a=None if va is None else va.value, b=None if vb is None else vb.value))
            continue
        row = {**base, "a": va.value, "a_low": va.low, "a_high": va.high, "b": vb.value, "b_low": vb.low,
               "b_high": vb.high, "delta": vb.value - va.value}
        same_images = va.per_image and vb.per_image and set(va.per_image) == set(vb.per_image)
        if same_images and len(va.per_image) >= 2:
            iv = bootstrap_mean_ci([vb.per_image[i] - va.per_image[i] for i in sorted(va.per_image)], **boot)
            shift = row["delta"] - iv.value
            row.update(delta_low=iv.low + shift, delta_high=iv.high + shift, ci_method="paired-bootstrap",
                       n_paired=iv.n)
        else:
            row["images_differ"] = bool(va.per_image and vb.per_image)
        if row.get("ci_method") is None and None not in (va.low, va.high, vb.low, vb.high):
            low, high = independent_interval(va.value, va.low, va.high, vb.value, vb.low, vb.high)
            row.update(delta_low=low, delta_high=high, ci_method="approx-independent")
        rows.append(CompareRow(**row))
    return Comparison(str(ra.path), str(rb.path), (ra.smoke, rb.smoke), tuple(rows))


def to_text(c: Comparison) -> str:
    out = [f"A = {c.run_a}, B = {c.run_b}: Δ = B − A"]
    for name, smoke in zip(("A", "B"), c.smoke):
        if smoke:
            out.append(f"NOTE: run {name}: {SMOKE_NOTE}.")
    rows = []
    for r in c.rows:
        d = r.decimals
        if r.status != "ok":
            rows.append([r.label, interval(r.a, None, None, d) if r.a is not None else "missing",
                         interval(r.b, None, None, d) if r.b is not None else "missing", "–", r.status])
            continue
        how = {"paired-bootstrap": f"paired, {r.n_paired} images", "approx-independent": "approx."}.get(
            r.ci_method or "", "no CI") + (" (images differ)" if r.images_differ else "")
        rows.append([r.label, interval(r.a, r.a_low, r.a_high, d), interval(r.b, r.b_low, r.b_high, d),
                     interval(r.delta, r.delta_low, r.delta_high, d, sign=True), how])
    out += ["", *aligned(["measure", "A [95% CI]", "B [95% CI]", "Δ B − A [95% CI]", "Δ interval"], rows), ""]
    out.append("Δ = B − A of the files' values. Its interval: 'paired' is a bootstrap of the per-image differences "
               "(both runs scored the same images); 'approx.' combines the two runs' own intervals as if independent "
               "(too wide when both runs scored the same layouts); 'images differ': the runs scored different "
               "images, so no pairing. Units as in the tables.")
    return "\n".join(out) + "\n"
