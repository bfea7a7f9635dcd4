"""Parity of the layouts stage with the original ``eval_local.py`` + ``prepare_batch`` (fixture 4).

Everything is computed from the stored inputs (``coco/instances_val2017.json``, ``coco/captions_val2017.json``,
``np_seed`` / ``py_seed``), so a held-back fixture folder of the same format works too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from instdiff.data import coco
from instdiff.core.masks import decode_mask
from instdiff.generation import conditioning
from tests.conftest import REPO, parity_fixtures

FIXTURES = parity_fixtures()
if not FIXTURES.is_absolute():  # a relative INSTDIFF_PARITY_FIXTURES is taken from the repository root
    FIXTURES = (REPO / FIXTURES).resolve()


FLAGS = {  # fixture flag-set name -> experiment settings
    "default": {"use_captions": False, "attributes": []},
    "captions": {"use_captions": True, "attributes": []},
    "colors": {"use_captions": False, "attributes": ["colors"]},
    "textures": {"use_captions": False, "attributes": ["textures"]},
    "colors_textures_captions": {"use_captions": True, "attributes": ["colors", "textures"]},
}


def stub_clip(phrases):
    """The fixture's stub CLIP text embedding (README §6), in the test only."""
    import torch

    rows = []
    for p in phrases:
        seed = int(hashlib.sha256(("clipstub:" + p).encode()).hexdigest()[:15], 16)
        rows.append(torch.randn(1, 768, generator=torch.Generator().manual_seed(seed))[0].numpy())
    return np.stack(rows)


@pytest.fixture(scope="module")
def fx():
    assert (FIXTURES / "fixture4_inputs.json").exists(), f"parity fixtures not found at {FIXTURES} (INSTDIFF_PARITY_FIXTURES)"
    meta = json.loads((FIXTURES / "fixture4_inputs.json").read_text())
    arrays = np.load(FIXTURES / "fixture4_inputs.npz")
    return meta, {k: arrays[k] for k in arrays.files}


def _legacy(meta, flag):
    return coco.build_layouts(
        FIXTURES / "coco" / "instances_val2017.json", FIXTURES / "coco" / "captions_val2017.json", FLAGS[flag],
        run_seed=0, experiment="parity", quirks={"single_annotation_seg": "original"}, rng_mode="legacy",
        legacy_seeds=(meta["np_seed"], meta["py_seed"]),
    )


@pytest.fixture(scope="module")
def legacy_default(fx):
    return _legacy(fx[0], "default")


def test_flagsets_are_the_known_ones(fx):
    assert set(fx[0]["flagsets"]) == set(FLAGS)


@pytest.mark.parametrize("flag", list(FLAGS))
def test_prompts_phrases_instance_prompts(fx, flag):
    meta, _ = fx
    layouts = _legacy(meta, flag)
    by_file = {lay.file_name: lay for lay in layouts}
    assert set(by_file) == set(meta["images"])
    for file_name, expected in meta["images"].items():
        lay = by_file[file_name]
        assert lay.caption == expected[flag]["prompt"]
        phrases = [inst.phrase for inst in lay.instances]
        assert phrases == expected[flag]["phrases"]
        # MIS chains are prompted with the instance phrase alone
        assert phrases == expected[flag]["instance_prompts"]


def test_images_sorted_and_locations_points(fx, legacy_default):
    meta, _ = fx
    assert [lay.image_id for lay in legacy_default] == sorted(lay.image_id for lay in legacy_default)
    for lay in legacy_default:
        exp = meta["images"][lay.file_name]
        assert [list(inst.box) for inst in lay.instances] == exp["locations"]
        assert [list(inst.point) for inst in lay.instances] == exp["points"]


def test_raw_scribbles_and_polygons_exact(fx, legacy_default):
    _, arr = fx
    for lay in legacy_default:
        stem = Path(lay.file_name).stem
        if f"{stem}/raw_scribbles" not in arr:
            assert not lay.instances
            continue
        scr = np.array([np.asarray(inst.scribble).reshape(-1) for inst in lay.instances]).reshape(-1, 40)
        pol = np.array([np.asarray(inst.polygon).reshape(-1) for inst in lay.instances]).reshape(-1, 512)
        np.testing.assert_array_equal(scr, arr[f"{stem}/raw_scribbles"])
        np.testing.assert_array_equal(pol, arr[f"{stem}/raw_polygons"])


def _unpacked(a):
    return np.unpackbits(a, axis=-1).astype(np.float32)


def _compare(got, arr, prefix, with_att):
    for key in ("boxes", "masks", "text_masks", "points", "polygons", "scribbles", "text_embeddings"):
        np.testing.assert_array_equal(got[key], arr[f"{prefix}/{key}"][0], err_msg=f"{prefix}/{key}")
    np.testing.assert_array_equal(got["segs"], _unpacked(arr[f"{prefix}/segs_packed"])[0], err_msg=f"{prefix}/segs")
    if with_att:
        np.testing.assert_array_equal(got["att_masks"], arr[f"{prefix}/att_masks"][0].astype(np.float32))


def test_grounding_batch_exact(fx, legacy_default):
    _, arr = fx
    for lay in legacy_default:
        stem = Path(lay.file_name).stem
        if f"{stem}/batch/boxes" not in arr:
            continue
        got = conditioning.grounding_inputs(lay, "mask", stub_clip, use_masked_att=True)
        _compare(got, arr, f"{stem}/batch", with_att=True)
        # the attention-mask-free call gives the same tensors without att_masks
        plain = conditioning.grounding_inputs(lay, "mask", stub_clip)
        assert "att_masks" not in plain


def test_instance_inputs_exact(fx, legacy_default):
    _, arr = fx
    for lay in legacy_default:
        stem = Path(lay.file_name).stem
        inst_inputs = conditioning.instance_inputs(lay, "mask", stub_clip)
        n = len([k for k in arr if k.startswith(f"{stem}/instance") and k.endswith("/boxes")])
        assert len(inst_inputs) == n == len(lay.instances)
        for i, got in enumerate(inst_inputs):
            _compare(got, arr, f"{stem}/instance{i}", with_att=False)


def test_single_annotation_quirk_is_recorded(legacy_default):
    for lay in legacy_default:
        assert lay.meta["single_annotation_seg"] == "original"
        assert lay.meta["seg_first_row_quirk"] == (lay.meta["n_annotations"] == 1)


def test_faithful_mode_uses_the_real_mask(fx):
    meta, _ = fx
    layouts = coco.build_layouts(FIXTURES / "coco" / "instances_val2017.json", None, FLAGS["default"], 0, "p",
                                 rng_mode="legacy", legacy_seeds=(meta["np_seed"], meta["py_seed"]))
    for lay in layouts:
        assert lay.meta["single_annotation_seg"] == "faithful" and not lay.meta["seg_first_row_quirk"]
        got = conditioning.grounding_inputs(lay, "mask", stub_clip)
        for slot, inst in enumerate(lay.instances):
            np.testing.assert_array_equal(got["segs"][slot], decode_mask(inst.mask))


def test_seeded_mode_same_deterministic_parts_and_valid_random_parts(fx, legacy_default):
    """Seeded draws: same boxes/points/masks and deterministic polygons as the original; random parts in-mask."""
    meta, _ = fx
    seeded = coco.build_layouts(FIXTURES / "coco" / "instances_val2017.json", None, FLAGS["default"], 7, "scribble")
    for a, b in zip(seeded, legacy_default):
        assert a.caption == b.caption
        for ia, ib in zip(a.instances, b.instances):
            assert ia.box == ib.box and ia.point == ib.point and ia.mask == ib.mask
            mask = decode_mask(ia.mask)
            n = int(mask.sum())
            if n >= 128:  # polygon interior is deterministic for masks of >= 128 pixels
                assert ia.polygon == ib.polygon
            if n == 0:
                assert np.all(np.asarray(ia.scribble) == 0) and np.all(np.asarray(ia.polygon) == 0)
                continue
            pts = np.rint(np.asarray(ia.scribble) * 512).astype(int)
            assert mask[pts[:, 1], pts[:, 0]].all()  # every scribble point is a foreground pixel
            d = np.hypot(pts[:, 0], pts[:, 1])
            assert np.all(np.diff(d) >= 0)  # sorted by distance to the origin
            if n >= 20:
                assert len({tuple(p) for p in pts}) == 20  # drawn without replacement
