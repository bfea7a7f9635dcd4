"""The null model's place in the tables: which experiment is a metric's floor, and when a floor is too close.

The null model (experiment kind ``blank``, :mod:`instdiff.data.null_images`) is scored by every metric like any
experiment, so its metric files are ordinary records. A table row of a metric shows the null experiment's value
as that metric's floor under our detector and encoder, and flags a variant whose null score is close to its
real-image score: such a variant cannot tell a good image from a blank one.

Kept free of heavy imports: the report reads it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from instdiff.metrics.registry import metric_of_file, scored_attribute

BLANK_KIND = "blank"
# A variant is flagged when blank images score at least this share of what real images score (higher-is-better
# metrics). Half: a metric that gives an empty image half the real images' score measures mostly the detector.
CLOSE_SHARE = 0.5


def null_experiments(experiments: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The config's null-model experiments, in config order."""
    return [name for name, exp in experiments.items() if exp.get("kind") == BLANK_KIND]


def null_experiment_for(experiments: Mapping[str, Mapping[str, Any]], stem: str,
                        attribute: str | None = None) -> str | None:
    """The null experiment whose ``{stem}.json`` is the floor of metric file ``stem`` (None: the config has none).

    ``attribute`` ("colors" / "textures") picks, for the attribute metric, the null experiment scoring that list.
    """
    metric_id = metric_of_file(stem).id
    for name in null_experiments(experiments):
        if metric_id not in experiments[name].get("metrics", []):
            continue
        if metric_id == "attribute" and attribute is not None and scored_attribute(experiments, name) != attribute:
            continue
        return name
    return None


def null_is_close(null_value: float, real_value: float, higher_is_better: bool = True,
                  share: float = CLOSE_SHARE, null_high: float | None = None, real_low: float | None = None) -> bool:
    """True when the blank images' score is close to the real images': ``null >= share * real`` for a
    higher-is-better metric, or the null's interval reaches the real images' (``null_high >= real_low``, when
    both are given). Lower-is-better metrics (FID) are never flagged here: a blank set's FID is its maximum.
    Undefined values (NaN) are not flagged."""
    if not higher_is_better or not (math.isfinite(null_value) and math.isfinite(real_value)):
        return False
    if null_value >= share * real_value:
        return True
    return null_high is not None and real_low is not None and null_high >= real_low
