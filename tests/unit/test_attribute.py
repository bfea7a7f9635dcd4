"""Attribute binding with a deterministic stand-in encoder (test only): one-hot colour features."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.metrics.attribute import COLORS, Item, crop_box, items_with_detections, score_items

RGB = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0)}


class OneHotColour:
    """Image -> one-hot of the colour name whose RGB is nearest the crop's mean; text -> its colour words."""

    def encode_images(self, images):
        out = np.zeros((len(images), len(COLORS)), np.float32)
        for i, im in enumerate(images):
            mean = np.asarray(im, np.float64).reshape(-1, 3).mean(0)
            name = min(RGB, key=lambda k: np.sum((np.array(RGB[k]) - mean) ** 2))
            out[i, COLORS.index(name)] = 1
        return out

    def encode_texts(self, texts):
        out = np.full((len(texts), len(COLORS)), 1e-3, np.float32)  # no zero vectors
        for i, t in enumerate(texts):
            for w in t.split():
                if w in COLORS:
                    out[i, COLORS.index(w)] = 1
        return out


@pytest.fixture()
def images(tmp_path):
    a = Image.new("RGB", (100, 100), (0, 0, 255))
    a.paste((255, 0, 0), (0, 0, 50, 50))  # red top-left quarter, blue elsewhere
    a.save(tmp_path / "1.png")
    Image.new("RGB", (100, 100), (0, 255, 0)).save(tmp_path / "2.png")
    return tmp_path


def test_accuracy_and_clip_local_by_hand(images):
    items = [
        Item(1, "1.png", ["red car", "red dog", "blue cat", "red cup"],
             [(0, 0, 0.5, 0.5), (0.5, 0.5, 1, 1), (0.5, 0, 1, 0.5), (0.2, 0.2, 0.2, 0.6)]),  # last: zero width
        Item(2, "2.png", ["blue bird"], [(0, 0, 1, 1)]),
        Item(3, "3.png", [], []),
    ]
    (images / "3.png").write_bytes((images / "2.png").read_bytes())
    r = score_items(items, images, "colors", OneHotColour())
    per = {p["image_id"]: p for p in r["per_image"]}
    assert per[1]["correct"] == [1, 0, 1] and per[1]["skipped"] == 1
    assert per[2]["correct"] == [0]
    cos_hit = 1 / np.sqrt(1 + 7 * 1e-6)  # one-hot image vs the text vector (1 and seven 1e-3)
    cos_miss = 1e-3 / np.sqrt(1 + 7 * 1e-6)
    assert per[1]["similarity"] == pytest.approx([cos_hit, cos_miss, cos_hit], abs=1e-6)
    assert r["n_images"] == 2  # the image without instances does not count
    assert r["accuracy"] == pytest.approx((2 / 3 + 0) / 2, abs=1e-12)
    assert r["clip_local"] == pytest.approx(((2 * cos_hit + cos_miss) / 3 + cos_miss) / 2, abs=1e-6)


def test_crop_rounds_half_to_even():
    im = Image.new("RGB", (512, 512))
    crop = crop_box(im, (250.5 / 512, 311.5 / 512, 254.5 / 512, 314.5 / 512))
    assert crop.size == (4, 2)  # [250, 312, 254, 314]
    assert crop_box(im, (106.2 / 512, 50 / 512, 106.5 / 512, 90 / 512)) is None  # 0.3 px wide -> width 0


def test_detected_variant_uses_matched_detection_boxes(images):
    item = Item(1, "1.png", ["red car", "blue cat"], [(0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5)], [3, 17])
    detections = {1: [  # xywh pixels of the 100x100 image
        {"image_id": 1, "bbox": [0, 0, 48, 50], "score": 0.9, "category_id": 3},  # IoU 0.96 with GT 0
        {"image_id": 1, "bbox": [60, 60, 40, 40], "score": 0.8, "category_id": 17},  # IoU 0 with GT 1
    ]}
    (matched,) = items_with_detections([item], detections, {1: (100, 100)}, iou_threshold=0.5)
    assert matched.boxes[0] == pytest.approx((0, 0, 0.48, 0.5)) and matched.boxes[1] is None
    r = score_items([matched], images, "colors", OneHotColour())
    # The miss is in neither column: accuracy and CLIP_local are over the one detected instance; the miss is counted.
    assert r["per_image"][0]["correct"] == [1] and len(r["per_image"][0]["similarity"]) == 1
    assert r["n_unmatched"] == 1 and r["miss_rate"] == 0.5 and r["n_instances"] == 1
    assert r["accuracy"] == pytest.approx(1.0)
    assert (r["n_matched"], r["n_conditioned"]) == (1, 2)


def test_all_unmatched_says_how_many(images):
    """Nothing detected: the values are missing (NaN) and the counts say why ("2/2 unmatched")."""
    item = Item(1, "1.png", ["red car", "blue cat"], [(0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5)], [3, 17])
    (matched,) = items_with_detections([item], {1: []}, {1: (100, 100)})
    r = score_items([matched], images, "colors", OneHotColour())
    assert np.isnan(r["accuracy"]) and np.isnan(r["clip_local"])
    assert (r["n_unmatched"], r["n_conditioned"], r["n_matched"]) == (2, 2, 0)


def test_detected_variant_matches_within_the_class_above_the_confidence_threshold():
    item = Item(1, "1.png", ["red car", "blue cat"], [(0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5)], [3, 17])
    exact = [[0, 0, 50, 50], [50, 0, 50, 50]]
    wrong_class = {1: [{"bbox": exact[0], "score": 0.9, "category_id": 17},
                       {"bbox": exact[1], "score": 0.9, "category_id": 3}]}
    (m,) = items_with_detections([item], wrong_class, {1: (100, 100)})
    assert m.boxes == [None, None]                     # class-agnostic matching would pair both
    low = {1: [{"bbox": exact[0], "score": 0.29, "category_id": 3}, {"bbox": exact[1], "score": 0.3, "category_id": 17}]}
    (m,) = items_with_detections([item], low, {1: (100, 100)})
    assert m.boxes[0] is None and m.boxes[1] == pytest.approx((0.5, 0, 1, 0.5))   # GenEval's 0.3: kept at >= 0.3
    (m,) = items_with_detections([item], low, {1: (100, 100)}, conf_threshold=0.001)
    assert m.boxes[0] is not None
    with pytest.raises(InputError, match="category_id"):
        items_with_detections([Item(1, "1.png", ["red car"], [(0, 0, 1, 1)])], low, {1: (100, 100)})


def test_phrase_without_attribute_is_an_input_error(images):
    with pytest.raises(InputError, match="attribute prefixes"):
        score_items([Item(1, "1.png", ["car"], [(0, 0, 1, 1)])], images, "colors", OneHotColour())


def test_missing_image_names_the_file(images):
    with pytest.raises(InputError, match="missing"):
        score_items([Item(9, "9.png", ["red car"], [(0, 0, 1, 1)])], images, "colors", OneHotColour())
