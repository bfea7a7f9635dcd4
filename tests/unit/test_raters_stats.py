"""Statistics of the human study on cases small enough to check by hand, and textbook examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from instdiff.raters import analysis as R
from instdiff.raters.synthetic import synthetic_study

T = "2024-05-19T10:12:00+00:00"


def frame(matrix, criterion="overall", variant="raw"):
    """Ratings table from a raters x units matrix (NaN = not rated)."""
    rows = []
    for r, row in enumerate(np.asarray(matrix, float)):
        for u, score in enumerate(row):
            if np.isfinite(score):
                rows.append({"image_id": f"u{u:02d}", "rater_id": f"r{r}", "criterion": criterion,
                             "score": int(score), "variant": variant, "timestamp": T})
    return pd.DataFrame(rows)


NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units, 1-5 with gaps.
# Published: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. Published ICC(2,k) = 0.62, ICC(2,1) = 0.29.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_published_study_reproduces_mean_238():
    pub = R.published_study()
    assert pub["counts"] == {1: 18, 2: 41, 3: 27, 4: 13, 5: 1}
    assert sum(pub["counts"].values()) == pub["n"] == 100
    assert R.histogram_mean(pub["counts"]) == pytest.approx(2.38, abs=1e-12)
    scores = R.scores_from_counts(pub["counts"])
    assert scores.size == 100 and scores.mean() == pytest.approx(2.38)
    assert R.histogram(scores.astype(int)) == pub["counts"]


def test_perfect_agreement_gives_one():
    df = frame([[1, 2, 3, 4, 5, 3], [1, 2, 3, 4, 5, 3], [1, 2, 3, 4, 5, 3]])
    alpha = R.krippendorff_alpha(df, "overall", seed=1, n_boot=200)
    assert alpha["alpha"] == pytest.approx(1.0)
    assert alpha["ci"] == pytest.approx([1.0, 1.0])
    assert R.icc_2k(df, "overall")["icc"] == pytest.approx(1.0)


def test_krippendorff_textbook_example():
    df = frame(KRIPPENDORFF_2011)
    res = R.krippendorff_alpha(df, "overall", seed=1, n_boot=300)
    assert res["alpha"] == pytest.approx(0.815, abs=5e-4)
    # Unit 12 has a single value (not pairable) and is dropped; 11 units remain.
    assert res["n_units"] == 11 and res["n_raters"] == 4
    lo, hi = res["ci"]
    assert lo <= res["alpha"] <= hi
    # The transcription is checked on the other published levels too.
    import krippendorff

    data = np.array(KRIPPENDORFF_2011)
    assert krippendorff.alpha(reliability_data=data, level_of_measurement="nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff.alpha(reliability_data=data, level_of_measurement="interval") == pytest.approx(0.849, abs=5e-4)


def test_vectorised_bootstrap_alpha_matches_the_package():
    g = np.random.default_rng(0)
    base = np.array(KRIPPENDORFF_2011)
    units = R._unit_coincidences(base)
    for _ in range(20):
        idx = g.integers(0, base.shape[1], base.shape[1])
        sample = base[:, idx]
        if np.unique(sample[np.isfinite(sample)]).size < 2:
            continue
        mine = R._ordinal_alpha_from_coincidences(units[idx].sum(0)[None])[0]
        assert mine == pytest.approx(R._alpha(sample), abs=1e-12)


def test_icc_2k_shrout_fleiss_example():
    df = frame(np.array(SHROUT_FLEISS).T)  # raters x units
    res = R.icc_2k(df, "overall")
    assert res["icc"] == pytest.approx(0.62, abs=5e-3)
    assert res["n_units"] == 6 and res["n_raters"] == 4
    assert res["ci"][0] < 0.62 < res["ci"][1]


def test_icc_drops_incomplete_units_and_reports_it():
    m = np.array(SHROUT_FLEISS, float).T.tolist()
    m[0].append(NAN)
    for row in m[1:]:
        row.append(3)
    res = R.icc_2k(frame(m), "overall")
    assert res["n_units"] == 6 and res["n_units_dropped"] == 1
    assert res["icc"] == pytest.approx(0.62, abs=5e-3)


def test_agreement_undefined_cases_say_why():
    one_rater = frame([[1, 2, 3]])
    assert R.krippendorff_alpha(one_rater, "overall", 1)["alpha"] is None
    constant = frame([[3, 3, 3], [3, 3, 3]])
    assert "same value" in R.krippendorff_alpha(constant, "overall", 1)["note"]


def test_bootstrap_mean_is_deterministic_with_a_seed():
    ratings, _ = synthetic_study(seed=7, n_images=8, n_raters=3)
    df = pd.DataFrame(ratings)
    a = R.bootstrap_mean(df, seed=11, n_boot=400)
    b = R.bootstrap_mean(df, seed=11, n_boot=400)
    c = R.bootstrap_mean(df, seed=12, n_boot=400)
    assert a == b
    assert a["ci"] != c["ci"]
    assert a["ci"][0] < a["mean"] < a["ci"][1]
    assert a["resample"] == "units+raters" and a["n_raters"] == 3
    assert R.mean_table(df, seed=5, n_boot=300) == R.mean_table(df, seed=5, n_boot=300)


def test_bootstrap_mean_hand_cases():
    # Every answer equal: the interval collapses onto the mean.
    flat = frame([[4, 4, 4], [4, 4, 4]])
    assert R.bootstrap_mean(flat, seed=1, n_boot=100)["ci"] == [4.0, 4.0]
    # One rater, two units scoring 1 and 5 (one answer each): a resample's mean is 1, 3 or 5 with probabilities
    # 1/4, 1/2, 1/4, so the 95% percentile interval is [1, 5] and the point estimate 3.
    res = R.bootstrap_mean(frame([[1, 5]]), seed=3, n_boot=2000)
    assert res["mean"] == 3.0 and res["ci"] == [1.0, 5.0] and res["resample"] == "units"


def test_published_mean_ci_is_seeded():
    scores = R.scores_from_counts(R.published_study()["counts"])
    a = R.bootstrap_sample_mean(scores, seed=1, n_boot=1000)
    assert a == R.bootstrap_sample_mean(scores, seed=1, n_boot=1000)
    # Normal approximation: SD of the 100 scores is 0.96, so the half-width is about 1.96 * 0.096 = 0.19.
    assert a["ci"][0] == pytest.approx(2.19, abs=0.04) and a["ci"][1] == pytest.approx(2.57, abs=0.04)


def test_kendall_tau_matches_scipy_and_monotone_case():
    x = np.array([0.1, 0.4, 0.2, 0.9, 0.5, 0.7])
    res = R.kendall_tau(x, 2 * x + 1, seed=1, n_boot=200)
    assert res["tau"] == pytest.approx(1.0) and res["ci"] == pytest.approx([1.0, 1.0])
    y = np.array([1.0, 3.0, 1.0, 4.0, 2.0, 4.0])  # with ties
    res = R.kendall_tau(x, y, seed=1, n_boot=500)
    assert res["tau"] == pytest.approx(kendalltau(x, y).statistic)
    # The vectorised bootstrap equals scipy's tau-b on the same resamples.
    idx = np.random.default_rng(1).integers(0, x.size, size=(500, x.size))
    ref = [kendalltau(x[i], y[i]).statistic for i in idx]
    assert res["ci"] == pytest.approx(R._percentile_ci(np.array(ref, float), 0.95))
    assert R.kendall_tau(x, y, seed=1, n_boot=500) == res


def test_automatic_vs_human_joins_per_image(tmp_path):
    df = frame([[1, 2, 3, 4], [2, 2, 4, 5]])
    auto = tmp_path / "auto.csv"
    auto.write_text("image_id,metric,value\nu00,clip,0.1\nu01,clip,0.2\nu02,clip,0.3\nu03,clip,0.4\nu09,clip,0.9\n")
    rows = R.automatic_vs_human(df, R.read_automatic_scores([auto]), seed=1, n_boot=100)
    assert {(r["metric"], r["criterion"]) for r in rows} == {("clip", "all"), ("clip", "overall")}
    assert rows[0]["tau"] == pytest.approx(1.0) and rows[0]["n"] == 4  # u09 has no ratings


def test_automatic_scores_json_and_errors(tmp_path):
    from instdiff.core.errors import InputError

    path = tmp_path / "s.json"
    path.write_text('{"per_image": [{"image_id": 3, "metric": "grounding_iou", "value": 0.5}]}')
    assert R.read_automatic_scores([path])["image_id"].tolist() == ["3"]
    path.write_text('[{"image_id": "3", "metric": "clip", "value": "high"}]')
    with pytest.raises(InputError, match="not a number"):
        R.read_automatic_scores([path])
    path.write_text('[{"image_id": "3", "value": 1}]')
    with pytest.raises(InputError, match="metric"):
        R.read_automatic_scores([path])


def test_analyse_reports_everything(tmp_path):
    ratings, auto = synthetic_study(seed=3, n_images=6, n_raters=3)
    df, auto = pd.DataFrame(ratings), pd.DataFrame(auto)
    stats = R.analyse(df, auto, seed=3, n_boot=200, n_boot_alpha=200)
    assert stats["published"]["mean"] == pytest.approx(2.38) and stats["published"]["reproduces_reported_mean"]
    assert set(stats["means"]["per_criterion"]) == {"scene_fit", "instance_quality", "layout_perspective", "overall"}
    assert set(stats["means"]["per_variant"]) == {"raw", "refined"}
    assert set(stats["means"]["per_rater"]) == {"r01", "r02", "r03"}
    assert set(stats["agreement"]["krippendorff_alpha"]) == {*stats["criteria"], "all"}
    assert {r["metric"] for r in stats["automatic_vs_human"]} == {"clip", "grounding_iou"}
    assert all(isinstance(v, float) for v in stats["values"].values() if v is not None)
    assert stats == R.analyse(df, auto, seed=3, n_boot=200, n_boot_alpha=200)  # deterministic


def test_synthetic_study_is_seeded():
    a = synthetic_study(seed=1, n_images=4, n_raters=2)
    assert a == synthetic_study(seed=1, n_images=4, n_raters=2)
    assert a != synthetic_study(seed=2, n_images=4, n_raters=2)
    df = pd.DataFrame(a[0])
    assert df["score"].between(1, 5).all() and set(df["variant"]) == {"raw", "refined"}
    assert not df.duplicated(["image_id", "variant", "rater_id", "criterion"]).any()
