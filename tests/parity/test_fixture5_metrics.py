"""Fixture 5 of the parity set: PiM (paper variant) and attribute binding (stub CLIP) equal the original's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from instdiff.metrics.attribute import items_from_coco, score_items
from instdiff.metrics.cocofiles import load_gt, load_results
from instdiff.metrics.pim import pim_paper
from tests.parity.stub_clip import StubClip  # tests/parity/stub_clip.py (test-only stand-in)
from tests.conftest import parity_fixtures

REPO = Path(__file__).resolve().parents[2]


def fixtures_dir() -> Path:
    return parity_fixtures()


@pytest.fixture(scope="module")
def fx():
    root = fixtures_dir()
    gt = load_gt(root / "coco" / "instances_val2017.json")
    return {"root": root, "gt": gt, "expected": json.loads((root / "fixture5_metrics.json").read_text())}


@pytest.mark.parametrize("mode", ["point", "scribble"])
def test_pim_paper_reproduces_fixture(fx, mode):
    expected = fx["expected"][f"pim_{mode}"]
    results = load_results(fx["root"] / "coco" / "predictions.json", fx["gt"], need_masks=True)
    got = pim_paper(fx["gt"], results, mode, seed=expected.get("numpy_seed"))
    assert got["n_images"] == expected["n_images"]
    assert got["pim"] == pytest.approx(expected["PiM"], abs=1e-12, rel=0)
    assert [im["image_id"] for im in got["per_image"]] == [im["img_id"] for im in expected["per_image"]]
    for mine, theirs in zip(got["per_image"], expected["per_image"]):
        assert mine["matched_pairs"] == theirs["matched_pairs"], mine["image_id"]
        np.testing.assert_allclose(mine["scores"], theirs["acc_per_image"], atol=1e-12, rtol=0)


@pytest.mark.parametrize("attribute", ["colors", "textures"])
def test_attribute_binding_reproduces_fixture(fx, attribute):
    expected = fx["expected"][f"attribute_{attribute}"]
    items = items_from_coco(fx["gt"], attribute)
    got = score_items(items, fx["root"] / "coco" / "generation_samples", attribute, StubClip())
    assert got["n_images"] == expected["n_images"]
    assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12, rel=0)
    assert got["clip_local"] == pytest.approx(expected["clip_local"], abs=1e-6, rel=0)
    assert got["n_skipped_empty_crops"] == len(expected["errors_printed"])
    for item, mine, theirs in zip(items, got["per_image"], expected["per_image"]):
        assert item.file == theirs["file_name"]
        assert item.phrases == theirs["phrases"]
        np.testing.assert_allclose(np.array(item.boxes).reshape(-1, 4), np.array(theirs["locations"]).reshape(-1, 4), atol=1e-12, rtol=0)
        np.testing.assert_allclose(mine["similarity"], theirs["clip_score_single_image"], atol=1e-6, rtol=0)
        assert mine["correct"] == theirs["clip_acc_single_image"]
