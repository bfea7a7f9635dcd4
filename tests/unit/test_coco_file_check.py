"""One COCO instances-file check serves the data stage (``coco.load_instances``) and scoring (``cocofiles.load_gt``):
the same defect gives the same error from both; the data stage asks for more keys."""

import json

import pytest

from instdiff.data.coco import load_instances
from instdiff.core.errors import InputError
from instdiff.metrics.cocofiles import load_gt

GOOD = {"images": [{"id": 1, "width": 8, "height": 6, "file_name": "000000000001.jpg"}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 4, "iscrowd": 0,
                         "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}],
        "categories": [{"id": 1, "name": "person"}]}


def _write(tmp_path, data):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("defect,message", [
    (lambda d: d.pop("categories"), "'categories' is missing or not a list"),
    (lambda d: d["images"][0].pop("width"), "image entry has no 'width'"),
    (lambda d: d["annotations"][0].pop("category_id"), "annotation entry has no 'category_id'"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2]), r"bbox must be \[x, y, w, h\]"),
])
def test_same_defect_same_error_from_both_readers(tmp_path, defect, message):
    data = json.loads(json.dumps(GOOD))
    defect(data)
    path = _write(tmp_path, data)
    for reader in (load_instances, load_gt):
        with pytest.raises(InputError, match=message):
            reader(path)


def test_data_stage_needs_more_than_scoring(tmp_path):
    data = json.loads(json.dumps(GOOD))
    data["images"][0].pop("file_name")
    path = _write(tmp_path, data)
    assert load_gt(path).imgs[1]["width"] == 8
    with pytest.raises(InputError, match="image entry has no 'file_name'"):
        load_instances(path)
