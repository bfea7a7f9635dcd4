"""Item 14 of issue 12: every malformed results record gets one clear error (file, record index, field, fix) from
``coco-eval``, ``grounding-iou`` and ``generate`` (demo JSON), never a traceback and never a silently moved AP."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from instdiff.cli import main

from tests.faults.checks import assert_nothing_half_written

H, W = 48, 64


def _rle(h: int = H, w: int = W) -> dict:
    m = np.zeros((h, w), np.uint8, order="F")
    m[10:20, 5:30] = 1
    rle = mask_utils.encode(m)
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def _gt() -> dict:
    return {
        "images": [{"id": 1, "width": W, "height": H, "file_name": "1.png"},
                   {"id": 2, "width": W, "height": H, "file_name": "2.png"}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 10, 25, 10], "area": 250, "iscrowd": 0,
                         "segmentation": _rle()}],
    }


def _det(**change) -> dict:
    return {"image_id": 1, "category_id": 1, "bbox": [5.0, 10.0, 25.0, 10.0], "score": 0.9,
            "segmentation": _rle(), **change}


def _coco_eval(tmp_path, capsys, dets, iou_type="bbox", gt=None):
    (tmp_path / "gt.json").write_text(json.dumps(gt or _gt()))
    (tmp_path / "pred.json").write_text(json.dumps(dets))  # json writes NaN for float("nan"), as numpy users do
    rc = main(["coco-eval", "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "pred.json"),
               "--iou-type", iou_type, "--all-gt"])
    return rc, capsys.readouterr()


def test_a_valid_file_still_scores(tmp_path, capsys):
    rc, out = _coco_eval(tmp_path, capsys, [_det(), _det(category_id=3)])  # 3 (car): COCO, absent from the GT
    assert rc == 0 and json.loads(out.out)["ap"] == pytest.approx(1.0)


BAD_BOXES = [
    ("nan box", {"bbox": [math.nan, 10, 25, 10]}, "bbox[0]"),
    ("negative width", {"bbox": [5, 10, -25, 10]}, "bbox"),
    ("huge box", {"bbox": [0, 0, 1e9, 1e9]}, "bbox"),
    ("3-number box", {"bbox": [5, 10, 25]}, "bbox"),
    ("text in box", {"bbox": [5, "10", 25, 10]}, "bbox[1]"),
    ("nan score", {"score": math.nan}, "score"),
    ("text score", {"score": "high"}, "score"),
    ("bool score", {"score": True}, "score"),
    ("score above 1", {"score": 7.0}, "score"),
    ("unknown category", {"category_id": 999}, "category_id"),
    ("category name", {"category_id": "person"}, "category_id"),
]


@pytest.mark.parametrize("label,change,field", BAD_BOXES, ids=[b[0] for b in BAD_BOXES])
def test_bad_box_records_are_refused(tmp_path, capsys, label, change, field):
    rc, out = _coco_eval(tmp_path, capsys, [_det(), _det(**change)])
    assert rc == 2 and out.out == ""
    assert str(tmp_path / "pred.json") in out.err and f"[1].{field}" in out.err and "Fix:" in out.err
    assert "Traceback" not in out.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.json", "pred.json"]
    assert_nothing_half_written(tmp_path)


BAD_MASKS = [
    ("garbage rle", {"segmentation": {"size": [H, W], "counts": "\x01\x02garbage~~"}}, "segmentation.counts"),
    ("short rle", {"segmentation": {"size": [H, W], "counts": [5, 3]}}, "segmentation.counts"),
    ("wrong-size mask", {"segmentation": _rle(32, 32)}, "segmentation.size"),
    ("odd polygon", {"segmentation": [[1, 2, 3, 4, 5]]}, "segmentation[0]"),
    ("number as mask", {"segmentation": 7}, "segmentation"),
]


@pytest.mark.parametrize("label,change,field", BAD_MASKS, ids=[b[0] for b in BAD_MASKS])
def test_bad_mask_records_are_refused(tmp_path, capsys, label, change, field):
    rc, out = _coco_eval(tmp_path, capsys, [_det(), _det(**change)], iou_type="segm")
    assert rc == 2 and f"[1].{field}" in out.err and "Fix:" in out.err, out.err
    assert_nothing_half_written(tmp_path)


def test_an_empty_image_list_is_an_error_not_ap_minus_one(tmp_path, capsys):
    gt = {**_gt(), "images": [], "annotations": []}
    rc, out = _coco_eval(tmp_path, capsys, [], gt=gt)
    assert rc == 2 and "lists no images" in out.err
    (tmp_path / "done.json").write_text(json.dumps({"experiment": "box", "images": [], "n": 0}))
    rc = main(["coco-eval", "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "pred.json"),
               "--iou-type", "bbox", "--images", str(tmp_path / "done.json")])
    assert rc == 2


def _box_line(bbox) -> str:
    return json.dumps({"description_id": 1, "bboxes": [{"category_name": "dog", "bbox": bbox}]}, allow_nan=True)


@pytest.mark.parametrize("bbox", [[1, 2, 3], [1, 2, "x", 4], [math.nan, 1, 2, 3], [True, 1, 2, 3], None])
def test_grounding_iou_refuses_bad_boxes(tmp_path, capsys, bbox):
    (tmp_path / "gt.json").write_text(_box_line([10, 10, 50, 50]) + "\n")
    (tmp_path / "pred.json").write_text(_box_line(bbox) + "\n")
    rc = main(["grounding-iou", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt.json")])
    err = capsys.readouterr().err
    assert rc == 2 and str(tmp_path / "pred.json") in err and "line 1: bboxes[0]" in err and "Fix:" in err


DEMO_FAULTS = [
    ("bool width", {"width": True}, "width"),
    ("3-number bbox", {"annos": [{"caption": "a dog", "bbox": [1, 2, 3]}]}, "annos[0].bbox"),
    ("nan bbox", {"annos": [{"caption": "a dog", "bbox": [1, math.nan, 3, 4]}]}, "annos[0].bbox[1]"),
    ("garbage mask", {"annos": [{"caption": "a dog", "mask": {"size": [64, 64], "counts": "zz"}}]}, "annos[0].mask.counts"),
    ("wrong-size mask", {"annos": [{"caption": "a dog", "mask": _rle(32, 32)}]}, "annos[0].mask.size"),
    ("text point", {"annos": [{"caption": "a dog", "point": ["1", 2]}]}, "annos[0].point[0]"),
    ("no instances", {"annos": []}, "annos"),
]


@pytest.mark.parametrize("label,change,field", DEMO_FAULTS, ids=[d[0] for d in DEMO_FAULTS])
def test_generate_refuses_a_bad_demo_before_loading_a_model(tmp_path, capsys, label, change, field):
    demo = {"caption": "a dog", "width": 64, "height": 64,
            "annos": [{"caption": "a dog", "bbox": [1, 2, 30, 40]}], **change}
    (tmp_path / "demo.json").write_text(json.dumps(demo))
    rc = main(["generate", "--layout", str(tmp_path / "demo.json"), "--out", str(tmp_path / "out"),
               "--model", str(tmp_path / "no-model")])
    err = capsys.readouterr().err
    assert rc == 2 and f"(field {field!r})" in err and "Fix:" in err, err
    assert not (tmp_path / "out").exists()
    assert_nothing_half_written(tmp_path)
