"""The three former bootstraps (report CIs, the LLM stage's CLIP score, the published human-study histogram) are one
function, ``instdiff.core.stats.bootstrap_mean_ci``, and still give the numbers they gave before it was shared.

The expected numbers were computed by the three separate implementations before they were merged (same seeds, same
draws); means are checkable by hand, the intervals are quantiles of the seeded resampled means.
"""

import numpy as np
import pytest

from instdiff.metrics.clipscore import mean_with_ci
from instdiff.raters.analysis import bootstrap_sample_mean, published_study, scores_from_counts
from instdiff.core.stats import bootstrap_mean_ci


def test_report_interval_unchanged():
    iv = bootstrap_mean_ci([0.2, 0.3, 0.4], resamples=50, seed=1)
    assert (iv.value, iv.low, iv.high, iv.n) == (0.3, 0.2333333333333333, 0.4000000000000001, 3)  # 0.3 = 0.9 / 3


def test_clip_score_interval_unchanged():
    assert mean_with_ci([0.2, 0.3, 0.4], n_boot=50, seed=1) == {
        "mean": 0.3, "sd": 0.1, "ci_low": 0.2333333333333333, "ci_high": 0.4000000000000001, "n": 3}
    # one image: every resample is that image
    assert mean_with_ci([0.25], n_boot=50, seed=1) == {"mean": 0.25, "sd": 0.0, "ci_low": 0.25, "ci_high": 0.25, "n": 1}
    assert mean_with_ci([], n_boot=50, seed=1) == {"mean": None, "sd": None, "ci_low": None, "ci_high": None, "n": 0}


def test_clip_score_interval_unchanged_when_resamples_are_drawn_in_chunks():
    # 3001 values x 1000 resamples is drawn in several chunks by the shared function, in one block before.
    x = np.random.default_rng(7).uniform(0.1, 0.4, size=3001).tolist()
    assert mean_with_ci(x, n_boot=1000, seed=5) == {
        "mean": 0.2508050726933598, "sd": 0.08651512472502669,
        "ci_low": 0.24783220429179448, "ci_high": 0.25378503871467656, "n": 3001}


def test_rater_sample_interval_unchanged():
    scores = np.array([1.0, 2.0, 2.0, 3.0, 5.0])  # mean 13 / 5 = 2.6
    assert bootstrap_sample_mean(scores, seed=1, n_boot=50) == {"mean": 2.6, "ci": [1.8, 4.31], "n_ratings": 5}
    assert bootstrap_sample_mean(scores, seed=1, n_boot=50, level=0.9) == {"mean": 2.6, "ci": [1.8, 4.0], "n_ratings": 5}
    assert bootstrap_sample_mean(np.array([4.0]), seed=1, n_boot=50) == {"mean": 4.0, "ci": [4.0, 4.0], "n_ratings": 1}


def test_published_histogram_interval_unchanged():
    scores = scores_from_counts(published_study()["counts"])  # 238 / 100
    assert bootstrap_sample_mean(scores, seed=123, n_boot=2000) == {"mean": 2.38, "ci": [2.19, 2.57], "n_ratings": 100}


@pytest.mark.parametrize("seed", [0, 9])
def test_the_three_agree_on_one_sample(seed):
    x = [1.0, 2.0, 4.0, 4.0]
    iv = bootstrap_mean_ci(x, resamples=300, seed=seed)
    clip = mean_with_ci(x, n_boot=300, seed=seed)
    rater = bootstrap_sample_mean(np.array(x), seed=seed, n_boot=300)
    assert iv.value == clip["mean"] == rater["mean"] == 2.75
    assert [iv.low, iv.high] == [clip["ci_low"], clip["ci_high"]] == rater["ci"]
