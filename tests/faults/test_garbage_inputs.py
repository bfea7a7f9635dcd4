"""Item 4 of issue 24: garbage in any file a command reads gets one named error (file, field, fix), never a bare
``UnicodeDecodeError`` / ``IndexError`` / ``TypeError`` and never a silently moved number. Driven through the real
``instdiff coco-eval`` and ``instdiff grounding-iou`` commands where a command reads the file."""

from __future__ import annotations

import json
import math

import pytest

from instdiff.cli import main
from instdiff.core.errors import InputError

from tests.faults.checks import assert_nothing_half_written
from tests.faults.test_malformed_results import H, W, _det, _gt

BINARY = b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01garbage\xc3"


def _coco_eval(tmp_path, capsys, gt, dets, iou_type="bbox"):
    for name, data in (("gt.json", gt), ("pred.json", dets)):
        (tmp_path / name).write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    rc = main(["coco-eval", "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "pred.json"),
               "--iou-type", iou_type, "--all-gt"])
    return rc, capsys.readouterr()


def _refused(rc, out, path, field=None):
    assert rc == 2 and out.out == "", out
    assert str(path) in out.err and "Fix:" in out.err and "Traceback" not in out.err, out.err
    if field is not None:
        assert f"(field {field!r})" in out.err, out.err


@pytest.mark.parametrize("which", ["pred.json", "gt.json"])
def test_binary_bytes_in_a_json_file_name_the_file(tmp_path, capsys, which):
    gt, dets = _gt(), [_det()]
    rc, out = _coco_eval(tmp_path, capsys, BINARY if which == "gt.json" else gt,
                         BINARY if which == "pred.json" else dets)
    _refused(rc, out, tmp_path / which)
    assert "not a text file" in out.err
    assert_nothing_half_written(tmp_path)


def test_binary_bytes_in_a_json_lines_file_name_the_file_and_line(tmp_path, capsys):
    good = json.dumps({"description_id": 1, "bboxes": [{"category_name": "dog", "bbox": [1, 2, 30, 40]}]})
    (tmp_path / "gt.json").write_text(good + "\n")
    (tmp_path / "pred.json").write_bytes(good.encode() + b"\n" + BINARY + b"\n")
    rc = main(["grounding-iou", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt.json")])
    out = capsys.readouterr()
    _refused(rc, out, tmp_path / "pred.json")
    assert "line 2" in out.err


def test_binary_metric_and_layout_files_name_the_file(tmp_path):
    from instdiff.core.layout import read_layouts
    from instdiff.metrics.record import read_record

    (tmp_path / "coco_bbox.json").write_bytes(BINARY)
    (tmp_path / "box.jsonl").write_bytes(BINARY)
    with pytest.raises(InputError, match="coco_bbox.json: not a text file"):
        read_record(tmp_path / "coco_bbox.json")
    with pytest.raises(InputError, match="box.jsonl"):
        read_layouts(tmp_path / "box.jsonl")


def test_a_2000_deep_json_file_is_an_error_not_a_crash(tmp_path, capsys):
    rc, out = _coco_eval(tmp_path, capsys, _gt(), b"[" * 100_000 + b"]" * 100_000)
    _refused(rc, out, tmp_path / "pred.json")


def _gt_with(section: str, index: int, **change) -> dict:
    gt = _gt()
    gt[section][index] = {**gt[section][index], **change}
    return gt


GT_FAULTS = [
    ("garbage rle", "segm", _gt_with("annotations", 0, segmentation={"size": [H, W], "counts": "%%%garbage"}),
     "annotations[0].segmentation.counts"),
    ("image_id list", "bbox", _gt_with("annotations", 0, image_id=[1]), "annotations[0].image_id"),
    ("category_id list", "bbox", _gt_with("annotations", 0, category_id=[1]), "annotations[0].category_id"),
    ("image id list", "bbox", _gt_with("images", 1, id=[2]), "images[1].id"),
    ("nan bbox", "bbox", _gt_with("annotations", 0, bbox=[math.nan, 10, 25, 10]), "annotations[0].bbox[0]"),
    ("negative bbox", "bbox", _gt_with("annotations", 0, bbox=[5, 10, -25, 10]), "annotations[0].bbox"),
    ("width as text", "bbox", _gt_with("images", 0, width=str(W)), "images[0].width"),
    ("zero height", "bbox", _gt_with("images", 0, height=0), "images[0].height"),
    ("nan width", "bbox", _gt_with("images", 0, width=math.nan), "images[0].width"),
]


@pytest.mark.parametrize("label,iou_type,gt,field", GT_FAULTS, ids=[f[0] for f in GT_FAULTS])
def test_bad_annotation_file_values_are_refused(tmp_path, capsys, label, iou_type, gt, field):
    rc, out = _coco_eval(tmp_path, capsys, gt, [_det()], iou_type)
    _refused(rc, out, tmp_path / "gt.json", field)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.json", "pred.json"]


DET_FAULTS = [
    ("garbage rle", "segm", {"segmentation": {"size": [H, W], "counts": "%%%garbage"}}, "[0].segmentation.counts"),
    ("image_id list", "bbox", {"image_id": [1]}, "[0].image_id"),
    ("category_id list", "bbox", {"category_id": [1]}, "[0].category_id"),
]


@pytest.mark.parametrize("label,iou_type,change,field", DET_FAULTS, ids=[f[0] for f in DET_FAULTS])
def test_bad_detection_values_are_refused(tmp_path, capsys, label, iou_type, change, field):
    rc, out = _coco_eval(tmp_path, capsys, _gt(), [_det(**change)], iou_type)
    _refused(rc, out, tmp_path / "pred.json", field)


def test_a_valid_annotation_file_with_a_crowd_rle_still_scores(tmp_path, capsys):
    gt = _gt()
    gt["annotations"].append({"id": 2, "image_id": 2, "category_id": 1, "bbox": [5, 10, 25, 10], "area": 250,
                              "iscrowd": 1, "segmentation": {"size": [H, W], "counts": [H * W]}})
    rc, out = _coco_eval(tmp_path, capsys, gt, [_det()], "segm")
    assert rc == 0 and json.loads(out.out)["ap"] == pytest.approx(1.0)


@pytest.mark.parametrize("bbox", [[50, 10, 10, 40], [10, 50, 40, 10]], ids=["x2<x1", "y2<y1"])
def test_an_inverted_grounding_box_is_refused(tmp_path, capsys, bbox):
    def line(b):
        return json.dumps({"description_id": 1, "bboxes": [{"category_name": "dog", "bbox": b}]}) + "\n"

    (tmp_path / "gt.json").write_text(line([10, 10, 50, 50]))
    (tmp_path / "pred.json").write_text(line(bbox))
    rc = main(["grounding-iou", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt.json")])
    out = capsys.readouterr()
    _refused(rc, out, tmp_path / "pred.json", "line 1: bboxes[0].bbox")
    assert "inverted" in out.err


def _metric_doc(**values) -> dict:
    return {"metric": "coco_bbox", "variant": None, "experiment": "box", "n_images": 2, "settings": {},
            "values": {"ap": 0.62, "ap50": 0.8, "ar": 0.7, "ar100": 0.7, "r": 0.6, "p": 0.5, **values},
            "per_image": None, "per_category": [], "intervals": None, "manifest": None}


@pytest.mark.parametrize("key,value", [("ap", 7.5), ("ap50", -0.2), ("p", 62.0)])
def test_a_metric_fraction_outside_0_1_is_refused(tmp_path, key, value):
    from instdiff.metrics.record import read_record

    path = tmp_path / "coco_bbox.json"
    path.write_text(json.dumps(_metric_doc(**{key: value})))
    with pytest.raises(InputError, match=rf"values\.{key} is {value}, not a fraction in \[0, 1\]"):
        read_record(path)


def test_undefined_fractions_still_pass(tmp_path):
    from instdiff.metrics.record import read_record

    path = tmp_path / "coco_bbox.json"
    path.write_text(json.dumps(_metric_doc(ap=-1.0, ar=math.nan)))  # pycocotools' -1: no ground truth at all
    assert read_record(path).values["ap"] == -1.0
