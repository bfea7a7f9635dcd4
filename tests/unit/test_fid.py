"""FID/KID on torch-fidelity's InceptionV3 with random weights written by the smoke models code.

Small images (64x64) and the 64-d feature layer keep CPU time low; the code path is the real one.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from instdiff.core.errors import InputError
from instdiff.metrics import fid as F
from tests.report_helpers import write_images

IDS = list(range(12))


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    d = tmp_path_factory.mktemp("inception")
    rec = F.write_random_inception(d / "inception.pth", d / "inception.sha256.json", seed=0)
    return d / "inception.pth", rec


@pytest.fixture(scope="module")
def sets(tmp_path_factory, inception):
    d = tmp_path_factory.mktemp("images")
    real = write_images(d / "real", "real", IDS, size=64, seed=1)
    same = write_images(d / "same", "same", IDS, size=64, seed=1)
    small = write_images(d / "small", "small", IDS, size=64, seed=1, shift=40)
    large = write_images(d / "large", "large", IDS, size=64, seed=1, shift=120)
    ref = d / "ref.npz"
    info = F.reference_statistics(real, inception[0], ref, feature=64, resolution=64)
    return {"real": real, "same": same, "small": small, "large": large, "ref": ref, "ref_info": info, "dir": d}


def _fid(sets, inception, name, out, **kw):
    settings = F.FidSettings(**({"feature": 64, "resolution": 64, "kid_subsets": 5} | kw))
    return F.compute_fid(sets[name], sets["ref"], inception[0], out, settings, manifest={"run": "t"})


def test_random_weights_have_the_real_keys_and_load(inception):
    import torch

    path, rec = inception
    state = torch.load(path, weights_only=True)
    assert set(state) == set(F._inception_skeleton().state_dict())
    assert rec["random"] is True and rec["sha256"] == F.file_sha256(path)
    assert json.loads((path.parent / "inception.sha256.json").read_text())["sha256"] == rec["sha256"]
    net = F.load_extractor(path, feature=64, device="cpu")
    feats = net(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    assert feats.shape == (2, 64)


def test_random_weights_are_deterministic(tmp_path, inception):
    rec = F.write_random_inception(tmp_path / "a.pth", tmp_path / "a.json", seed=0)
    assert rec["sha256"] == inception[1]["sha256"]


def test_fid_of_a_set_against_itself_is_zero(sets, inception, tmp_path):
    res = _fid(sets, inception, "same", tmp_path / "fid.json")
    assert abs(res["values"]["fid"]) < 1e-3
    s = res["settings"]
    assert s["n_generated"] == s["n_real"] == 12 and s["feature"] == 64 and s["mode"] == "tf1"
    assert s["reference_sha256"] == sets["ref_info"]["sha256"] and s["inception_sha256"] == inception[1]["sha256"]
    assert "torchmetrics" in s["implementation"] and "torch-fidelity" in s["implementation"]
    assert set(res["values"]) == {"fid", "kid_mean", "kid_std", "fid_jpeg75", "kid_mean_jpeg75", "kid_std_jpeg75"}
    assert json.loads((tmp_path / "fid.json").read_text())["manifest"] == {"run": "t"}


def test_fid_grows_with_the_perturbation(sets, inception, tmp_path):
    small = _fid(sets, inception, "small", tmp_path / "s.json", jpeg_quality=None)["values"]["fid"]
    large = _fid(sets, inception, "large", tmp_path / "l.json", jpeg_quality=None)["values"]["fid"]
    assert 1e-3 < small < large


def test_fid_kid_on_features_hand_checkable():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 4))
    # Shifting every feature by 1 adds ||mu difference||^2 = 4 and leaves the covariances equal.
    res = F.fid_kid(a, a + 1.0, kid_subsets=10, kid_subset_size=50, seed=0)
    assert res["fid"] == pytest.approx(4.0, abs=1e-6)
    assert res["kid_mean"] > 0 and res["kid_subset_size"] == 50
    assert F.fid_kid(a, a + 1.0, 10, 50, seed=0) == res           # KID subsets are seeded


def test_bad_inputs(sets, inception, tmp_path):
    with pytest.raises(InputError, match="expected 32x32"):
        F.reference_statistics(sets["real"], inception[0], tmp_path / "r.npz", feature=64, resolution=32)
    assert not (tmp_path / "r.npz").exists()
    with pytest.raises(InputError, match="feature"):
        F.compute_fid(sets["same"], sets["ref"], inception[0], tmp_path / "x.json",
                      F.FidSettings(feature=192, resolution=64))
    with pytest.raises(InputError, match="run rule inception_weights"):
        F.load_extractor(tmp_path / "nope.pth")
    bad = tmp_path / "done.json"
    bad.write_text(json.dumps({"experiment": "x", "images": [{"id": "1", "file": "1.png"}], "n": 2}))
    with pytest.raises(InputError, match="'n' is 2"):
        F.read_image_list(bad)


def test_jpeg_copies_are_scored_as_stored_and_equal_the_in_memory_round_trip(sets, inception, tmp_path):
    """A jpeg_copy experiment holds what the round trip decodes: its FID (as stored, not compressed twice) equals
    the source's fid_jpeg75."""
    from instdiff.data.jpeg_variant import jpeg_copies

    copy = jpeg_copies(sets["small"], tmp_path / "copy" / "done.json", "small_jpeg75")
    assert [r["id"] for r in copy["images"]] == [str(i) for i in IDS]
    src = _fid(sets, inception, "small", tmp_path / "src.json")
    jpg = F.compute_fid(tmp_path / "copy" / "done.json", sets["ref"], inception[0], tmp_path / "jpg.json",
                        F.FidSettings(feature=64, resolution=64, kid_subsets=5), manifest={"run": "t"})
    assert jpg["settings"]["stored_format"] == "jpeg" and jpg["settings"]["jpeg_quality"] is None
    assert "fid_jpeg75" not in jpg["values"] and src["settings"]["stored_format"] == "png"
    assert jpg["values"]["fid"] == pytest.approx(src["values"]["fid_jpeg75"], rel=1e-9)
    with pytest.raises(InputError, match="already a JPEG"):
        jpeg_copies(tmp_path / "copy" / "done.json", tmp_path / "twice" / "done.json", "x")


def test_fid_settings_defaults_are_the_schemas_and_bad_values_name_the_field():
    import dataclasses

    import yaml

    schema = yaml.safe_load((Path(__file__).parents[2] / "config/schema/fid.schema.yaml").read_text())["properties"]
    for f in dataclasses.fields(F.FidSettings):
        if f.name in schema:
            assert f.default == schema[f.name]["default"], f.name
    for bad, field in [({"feature": 100}, "fid.feature"), ({"resize": "bicubic"}, "fid.resize"),
                       ({"kid_subset_size": 1}, "fid.kid_subset_size"), ({"batch_size": 0}, "fid.batch_size"),
                       ({"jpeg_quality": 0}, "fid.jpeg_quality")]:
        with pytest.raises(InputError) as err:
            F.FidSettings(**bad)
        assert err.value.field == field
    assert F.FidSettings(jpeg_quality=None).jpeg_quality is None


def _torchmetrics_fid(real, fake):
    """torchmetrics' FrechetInceptionDistance on precomputed features (what fid_kid called before)."""
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=F._precomputed(real.shape[1]))
    fid.update(torch.from_numpy(real), real=True)
    fid.update(torch.from_numpy(fake), real=False)
    return float(fid.compute())


def _eig_trace_sqrt(x, y):
    """Tr((S_x S_y)^(1/2)) the way torchmetrics takes it: eigenvalues of the d x d product."""
    import torch

    sx, sy = torch.from_numpy(np.cov(x, rowvar=False)), torch.from_numpy(np.cov(y, rowvar=False))
    return float(torch.linalg.eigvals(sx @ sy).sqrt().real.sum())


# Fewer images than dimensions (the smoke: 12 images, 2048-d; the images x images route) and more (the paper run:
# 5,000 images; the d x d eigenvalue route), with unequal scales so the two covariances differ.
@pytest.mark.parametrize("n_x,n_y,d", [(12, 15, 64), (40, 30, 256), (300, 250, 32), (20, 300, 64)])
def test_trace_sqrt_product_equals_the_eigenvalues_of_the_covariance_product(n_x, n_y, d):
    rng = np.random.default_rng(n_x + d)
    x = rng.normal(size=(n_x, d)) @ rng.normal(size=(d, d)) * 0.3
    y = rng.normal(size=(n_y, d)) * np.linspace(0.5, 2.0, d) + 0.2
    assert F.trace_sqrt_product(x, y) == pytest.approx(_eig_trace_sqrt(x, y), rel=1e-6)
    assert F.trace_sqrt_product(y, x) == pytest.approx(_eig_trace_sqrt(x, y), rel=1e-6)   # Tr sqrt(AB) = Tr sqrt(BA)
    assert F.frechet_distance(x, y) == pytest.approx(_torchmetrics_fid(x, y), rel=1e-6)


def test_trace_sqrt_product_of_a_set_with_itself_is_its_covariance_trace():
    # (S S)^(1/2) = S for a PSD S: a hand-checkable value; a route that dropped the square root or the 1/(n-1)
    # would give Tr(S^2) or a multiple of Tr(S).
    rng = np.random.default_rng(3)
    for n in (10, 100):
        x = rng.normal(size=(n, 16)) * 3.0
        assert F.trace_sqrt_product(x, x) == pytest.approx(np.trace(np.cov(x, rowvar=False)), rel=1e-9)
        assert F.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_trace_sqrt_product_matches_scipy_sqrtm_on_random_psd_matrices():
    # An independent reference: the principal square root of S_x S_y by scipy (Schur method), real part of its trace.
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(9, 24)), rng.normal(size=(11, 24)) * 2.0 + 1.0
    want = float(np.trace(sqrtm(np.cov(x, rowvar=False) @ np.cov(y, rowvar=False))).real)
    assert F.trace_sqrt_product(x, y) == pytest.approx(want, rel=1e-6)
