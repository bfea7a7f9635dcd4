"""Per-instance records on a case small enough to check by hand: one 512x512 image, a red person and a blue dog.
The layouts come from write_layouts and the PiM / attribute files from the metric writers themselves
(instdiff.metrics.files); the detections are a COCO results file written by hand, so every match is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.core.io import read_jsonl
from instdiff.core.layout import Instance, Layout, write_layouts
from instdiff.metrics import files
from instdiff.metrics.instances import instances_file
from tests.unit.metrics_data import rle, square
from tests.unit.test_attribute import OneHotColour

PERSON = square(512, 512, 100, 300, 100, 300)  # rows 100-299, cols 100-299: bbox [100, 100, 200, 200]
DOG = square(512, 512, 300, 400, 300, 400)     # bbox [300, 300, 100, 100]


def _box(x, y, w, h):
    return [float(x), float(y), float(w), float(h)]


@pytest.fixture()
def case(tmp_path):
    image = np.full((512, 512, 3), 128, np.uint8)
    image[PERSON == 1] = (255, 0, 0)
    image[DOG == 1] = (0, 0, 255)
    Image.fromarray(image).save(tmp_path / "1.png")
    (tmp_path / "done.json").write_text(json.dumps({"experiment": "e", "images": [{"id": "1", "file": "1.png"}],
                                                   "n": 1}))
    gt = {"images": [{"id": 1, "width": 512, "height": 512, "file_name": "1.png"}],
          "categories": [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}],
          "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": _box(100, 100, 200, 200),
                           "area": 40000.0, "iscrowd": 0, "segmentation": rle(PERSON)},
                          {"id": 11, "image_id": 1, "category_id": 18, "bbox": _box(300, 300, 100, 100),
                           "area": 10000.0, "iscrowd": 0, "segmentation": rle(DOG)}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    s = 1 / 512
    write_layouts(tmp_path / "layouts.jsonl", [Layout(id="1", caption="", image_id=1, instances=[
        Instance("red person", (100 * s, 100 * s, 300 * s, 300 * s), category="person", category_id=1, ann_id=10,
                 point=(200 * s, 200 * s)),
        Instance("green dog", (300 * s, 300 * s, 400 * s, 400 * s), category="dog", category_id=18, ann_id=11,
                 point=(350 * s, 350 * s))])])
    boxes = [  # the box detector's results, in the file's order
        {"image_id": 1, "category_id": 1, "bbox": _box(100, 100, 200, 200), "score": 0.9},   # 0: the person, IoU 1
        {"image_id": 1, "category_id": 1, "bbox": _box(100, 100, 200, 200), "score": 0.2},   # 1: below conf 0.3
        {"image_id": 1, "category_id": 17, "bbox": _box(300, 300, 100, 100), "score": 0.95},  # 2: a cat: no partner
        {"image_id": 1, "category_id": 18, "bbox": _box(300, 320, 100, 100), "score": 0.8},  # 3: the dog, IoU 8/12
    ]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    dog_right = square(512, 512, 300, 400, 360, 400)  # the dog's right 40 columns: mask IoU 0.4, misses its centre
    masks = [{"image_id": 1, "category_id": 1, "bbox": _box(100, 100, 200, 200), "score": 0.9, "segmentation": rle(PERSON)},
             {"image_id": 1, "category_id": 18, "bbox": _box(360, 300, 40, 100), "score": 0.8,
              "segmentation": rle(dog_right)}]
    (tmp_path / "masks.json").write_text(json.dumps(masks))
    return tmp_path


def _metric_files(case):
    pim = files.pim_file(case / "gt.json", case / "masks.json", case / "done.json", case / "layouts.jsonl", None,
                         case / "pim_point_corrected.json", "point", "corrected", "e")
    attr = {variant: files.attribute_file(case / "gt.json", case / "layouts.jsonl", case / "done.json", None, None,
                                          case / f"attribute_{variant}.json", "colors", "e", variant=variant,
                                          detections=case / "boxes.json", encoder=OneHotColour())
            for variant in ("gt", "detected")}
    return pim, attr


def _records(case):
    n = instances_file(case / "instances.jsonl", case / "gt.json", case / "layouts.jsonl", case / "done.json",
                       case / "boxes.json", "yolov8m", "e", 0.3, masks={"point": case / "masks.json"},
                       attribute={v: case / f"attribute_{v}.json" for v in ("gt", "detected")})
    rows = read_jsonl(case / "instances.jsonl")
    assert n == len(rows) == 2
    return rows


def test_records_by_hand(case):
    _metric_files(case)
    person, dog = _records(case)
    assert person["detection"] == {"index": 0, "category_id": 1, "score": 0.9, "bbox": [100, 100, 200, 200]}
    assert person["iou"] == 1.0
    assert dog["detection"]["index"] == 3 and dog["iou"] == pytest.approx(8000 / 12000)
    assert person["pim"] == {"point": {"hit": 1.0, "detection": 0, "mask_iou": 1.0}}
    # the dog's mask overlaps its detection at IoU 0.4, under the corrected variant's 0.5: unmatched, scored 0
    assert dog["pim"] == {"point": {"hit": 0.0, "detection": None, "mask_iou": None}}
    # CLIP (here one-hot colours) sees red on the person and blue, not green, on the dog, on either crop
    assert person["attribute"] == {"word": "red", "gt": 1, "detected": 1}
    assert dog["attribute"] == {"word": "green", "gt": 0, "detected": 0}
    assert (person["layout_id"], person["image_id"], person["instance"], person["ann_id"]) == ("1", 1, 0, 10)
    assert (dog["instance"], dog["category_id"], dog["category"], dog["phrase"]) == (1, 18, "dog", "green dog")
    assert dog["box"] == pytest.approx([300 / 512, 300 / 512, 400 / 512, 400 / 512])
    assert person["format_version"] == 1 and person["detector"] == "yolov8m" and person["experiment"] == "e"


def test_hits_average_to_the_metric_files_numbers(case):
    pim, attr = _metric_files(case)
    rows = _records(case)
    assert np.mean([r["pim"]["point"]["hit"] for r in rows]) == pim["per_image"][0]["pim"] == pim["values"]["pim"]
    for variant in ("gt", "detected"):
        hits = [r["attribute"][variant] for r in rows if r["attribute"][variant] is not None]
        assert np.mean(hits) == attr[variant]["per_image"][0]["accuracy"] == 0.5


def test_an_unmatched_instance_has_no_detection_and_no_hits(case):
    boxes = json.loads((case / "boxes.json").read_text())
    (case / "boxes.json").write_text(json.dumps(boxes[:3]))  # the dog's detection gone
    masks = json.loads((case / "masks.json").read_text())
    (case / "masks.json").write_text(json.dumps(masks[:1]))
    pim, attr = _metric_files(case)
    person, dog = _records(case)
    assert dog["detection"] is None and dog["iou"] is None
    # corrected PiM scores an unmatched instance 0 and counts it (pim.score_image_corrected)
    assert dog["pim"] == {"point": {"hit": 0.0, "detection": None, "mask_iou": None}}
    assert dog["attribute"] == {"word": "green", "gt": 0, "detected": None}
    assert attr["detected"]["values"]["n_unmatched"] == 1 and person["attribute"]["detected"] == 1


def test_an_attribute_file_of_other_detections_is_refused(case):
    _metric_files(case)
    boxes = json.loads((case / "boxes.json").read_text())
    (case / "boxes.json").write_text(json.dumps(boxes[:3]))  # the records now see one match, the file scored two
    with pytest.raises(InputError, match=r"attribute_detected\.json.*lists 2 scored instances"):
        _records(case)
