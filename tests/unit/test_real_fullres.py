"""The full-resolution upper bound: val2017 files at their own size, listed as they are and scored against the
official annotation file (experiment real_fullres)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.metrics.files import coco_file
from instdiff.data.real_images import real_images_native
from tests.unit.metrics_data import dets, square

SIZES = {139: (640, 480), 285: (427, 640)}  # (width, height), COCO-like


@pytest.fixture()
def coco(tmp_path):
    """An official-layout COCO folder: val2017/<12-digit id>.jpg at native sizes and one square per image."""
    (tmp_path / "val2017").mkdir()
    data = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    for k, (img_id, (w, h)) in enumerate(SIZES.items()):
        name = f"{img_id:012d}.jpg"
        Image.fromarray(np.full((h, w, 3), 90 + 40 * k, np.uint8)).save(tmp_path / "val2017" / name, quality=95)
        data["images"].append({"id": img_id, "width": w, "height": h, "file_name": name})
        m = square(h, w, 100, 300, 50, 350)
        ys, xs = np.nonzero(m)
        data["annotations"].append({"id": k + 1, "image_id": img_id, "category_id": 1, "iscrowd": 0,
                                    "bbox": [float(xs.min()), float(ys.min()), 300.0, 200.0], "area": float(m.sum()),
                                    "segmentation": dets(img_id, [m])[0]["segmentation"]})
    (tmp_path / "instances_val2017.json").write_text(json.dumps(data))
    return tmp_path


def test_lists_the_original_files_at_native_size(coco, tmp_path):
    out = tmp_path / "results" / "images" / "real_fullres"
    done = real_images_native(coco / "instances_val2017.json", coco / "val2017", out)
    assert [r["id"] for r in done["images"]] == ["139", "285"] and done["resolution"] == "native"
    for rec in done["images"]:
        path = (out / rec["file"]).resolve()
        assert path == (coco / "val2017" / f"{int(rec['id']):012d}.jpg").resolve()
        assert Image.open(path).size == SIZES[int(rec["id"])]   # not squashed
    assert not list(out.glob("*.png")) and json.loads((out / "done.json").read_text()) == done


def test_scored_against_the_official_annotations(coco, tmp_path):
    out = tmp_path / "images" / "real_fullres"
    real_images_native(coco / "instances_val2017.json", coco / "val2017", out)
    gt = json.loads((coco / "instances_val2017.json").read_text())
    perfect = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9,
                "segmentation": a["segmentation"]} for a in gt["annotations"]]
    (tmp_path / "dets.json").write_text(json.dumps(perfect))
    doc = coco_file(coco / "instances_val2017.json", tmp_path / "dets.json", out / "done.json", None,
                    tmp_path / "m.json", "segm", "real_fullres", bootstrap_resamples=0)
    assert doc["values"]["ap"] == pytest.approx(1.0) and doc["n_images"] == 2


def test_a_file_of_another_size_is_one_clear_error(coco, tmp_path):
    Image.new("RGB", (512, 512)).save(coco / "val2017" / "000000000139.jpg")
    with pytest.raises(InputError, match="512x512, the annotation file says 640x480"):
        real_images_native(coco / "instances_val2017.json", coco / "val2017", tmp_path / "out")
