import math

import numpy as np
import pytest

from instdiff.core.stats import bootstrap_mean_ci, per_image_values, seed_spread, seeds_mean_ci


def test_bootstrap_two_values_hand_checked():
    # Resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 95% interval is [0, 1].
    iv = bootstrap_mean_ci([0.0, 1.0], resamples=4000, seed=3)
    assert iv.value == 0.5 and iv.n == 2
    assert iv.low == 0.0 and iv.high == 1.0


def test_bootstrap_constant_values_collapse():
    iv = bootstrap_mean_ci([0.25] * 10)
    assert iv.low == iv.high == iv.value == 0.25


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = np.random.default_rng(0).random(200)
    a, b = bootstrap_mean_ci(x, seed=1), bootstrap_mean_ci(x, seed=1)
    assert a == b
    assert a.low < a.value < a.high
    # Width close to the normal approximation 2 * 1.96 * sd / sqrt(n).
    approx = 2 * 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    assert a.high - a.low == pytest.approx(approx, rel=0.15)


def test_bootstrap_drops_missing_and_handles_tiny_inputs():
    assert bootstrap_mean_ci([None, float("nan"), 1.0]).low is None
    assert math.isnan(bootstrap_mean_ci([]).value)


def test_seeds_t_interval_hand_checked():
    iv = seeds_mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729749464 * 1.0 / math.sqrt(3)        # t_{0.975, 2} * sd / sqrt(k)
    assert iv.value == 2.0
    assert iv.low == pytest.approx(2.0 - half) and iv.high == pytest.approx(2.0 + half)
    assert seeds_mean_ci([5.0]).low is None


def test_seeds_interval_of_a_bounded_metric_stays_in_range():
    """Two seeds of a percentage near 0 (the R 3.1 [-10.1, 16.4] the plain t-interval printed): on the logit scale
    the interval stays inside [0, 100]; by hand: logits of 0.011 and 0.051, t_{0.975, 1} = 12.706."""
    iv = seeds_mean_ci([1.1, 5.1], bounds=(0.0, 100.0))
    z = [math.log(0.011 / 0.989), math.log(0.051 / 0.949)]
    half = 12.706204736174698 * abs(z[1] - z[0]) / math.sqrt(2) / math.sqrt(2)  # sd of two = |diff| / sqrt(2)
    centre = sum(z) / 2
    assert iv.value == pytest.approx(3.1) and iv.method == "t-logit-across-seeds"
    assert iv.low == pytest.approx(100 / (1 + math.exp(-(centre - half))))
    assert iv.high == pytest.approx(100 / (1 + math.exp(-(centre + half))))
    assert 0.0 < iv.low < iv.value < iv.high < 100.0
    # values on the bounds (AP 0 on every seed of a null model) stay finite and inside
    zero = seeds_mean_ci([0.0, 0.0, 0.0], bounds=(0.0, 1.0))
    assert zero.value == 0.0 and 0.0 <= zero.low <= zero.high < 1e-5
    top = seeds_mean_ci([1.0, 0.98, 0.99], bounds=(0.0, 1.0))
    assert top.high <= 1.0 and top.low < top.value
    # a lower bound only (FID >= 0): a log-scale interval, positive
    fid = seeds_mean_ci([2.0, 30.0], bounds=(0.0, None))
    assert fid.method == "t-log-across-seeds" and 0.0 < fid.low < 2.0 and fid.high > 30.0


def test_seed_spread():
    assert seed_spread([0.2, 0.4, 0.3]) == {"k": 3, "mean": pytest.approx(0.3), "min": 0.2, "max": 0.4,
                                            "sd": pytest.approx(0.1)}
    assert seed_spread([0.5])["sd"] is None and seed_spread([])["k"] == 0


def test_per_image_values_skips_absent_and_null():
    recs = [{"pim": 1.0}, {"pim": None}, {"other": 2}, {"pim": 0.5}, "junk"]
    assert per_image_values(recs, "pim") == [1.0, 0.5]
