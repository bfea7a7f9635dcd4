"""Validator parity: detection mode ``validator`` gives what ``yolo val ... save_json=True`` writes, on the smoke's
real images (the synthetic COCO set, at its own sizes) with the tiny detectors the smoke builds.

Whatever ``yolo_models.build_tiny`` builds (a random or a trained tiny YOLOv8) is compared; the confidence threshold
is lowered so that even random weights give detections to compare (the check must be able to fail).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from instdiff.detection import yolo_models
from instdiff.detection.detect import VALIDATOR_SETTINGS, predict_validator
from instdiff.data.synthetic import write_synthetic_coco

CONF = 1e-5


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    write_synthetic_coco(root / "coco", seed=0, n_images=4)  # its minimum; with the 3 resized below, two rect batches
    folder = root / "coco" / "val2017"
    images = sorted(folder.glob("*.jpg"))
    assert images, "the synthetic set wrote no val2017 images"
    # COCO-like sizes as well (landscape, portrait), so rect batches of different shapes are compared whatever
    # size the synthetic set uses.
    from PIL import Image

    for k, size in enumerate([(640, 480), (427, 640), (500, 375)]):
        Image.open(images[k]).convert("RGB").resize(size).save(folder / f"{990000 + k:012d}.jpg", quality=90)
    images = sorted(folder.glob("*.jpg"))
    for name in ("yolov8m", "yolov8m-seg"):
        yolo_models.build_tiny(name, root / f"{name}.pt")
    return root, images


def _validator_json(root: Path, images: list[Path], weights: Path, task: str) -> list[dict]:
    """ultralytics' own validator with save_json on the same files (rect batches, as `yolo val`)."""
    model = yolo_models.load(weights)
    data = root / f"data_{task}.yaml"
    data.write_text(yaml.safe_dump({"path": str(images[0].parent), "train": str(images[0].parent), "val": str(images[0].parent),
                                    "names": {int(k): v for k, v in model.names.items()}}))
    model.val(data=str(data), save_json=True, rect=True, batch=4, imgsz=640, conf=CONF, iou=0.7, max_det=300,
              plots=False, device="cpu", project=str(root / "runs"), name=task, exist_ok=True, verbose=False)
    return json.loads((root / "runs" / task / "predictions.json").read_text())


@pytest.fixture()
def no_nms_time_limit(monkeypatch):
    """ultralytics' NMS stops at a wall-clock limit and drops the rest of the batch; on a loaded CPU that cut falls
    at a different image on each side. Both sides call ``ultralytics.utils.nms.non_max_suppression``: lift the
    limit there, nothing else changes."""
    import functools

    from instdiff.detection.ultralytics_env import setup

    setup()  # before ultralytics' first import (safe loading, offline)
    from ultralytics.utils import nms

    monkeypatch.setattr(nms, "non_max_suppression", functools.partial(nms.non_max_suppression, max_time_img=1e6))


@pytest.mark.parametrize("name, task", [("yolov8m", "detect"), ("yolov8m-seg", "segment")])
def test_validator_mode_equals_yolo_val_save_json(smoke, name, task, no_nms_time_limit):
    from pycocotools import mask as mask_utils
    from ultralytics.data.converter import coco80_to_coco91_class

    root, images = smoke
    theirs = _validator_json(root, images, root / f"{name}.pt", task)
    settings = {**VALIDATOR_SETTINGS, "mode": "validator", "mask_path": "installed", "batch": 4, "conf": CONF}
    ours = predict_validator(yolo_models.load(root / f"{name}.pt"), [(int(p.stem), p) for p in images], settings,
                             root / f"{name}.pt")
    assert ours and len(ours) == len(theirs)
    to80 = {c91: i + 1 for i, c91 in enumerate(coco80_to_coco91_class())}  # the validator's non-COCO class map

    def key(d):
        return (d["image_id"], -d["score"], d["bbox"])

    if task == "detect":  # the predictor's square letterbox is a different input: the comparison can tell
        from instdiff.detection.detect import predict

        plain = predict(yolo_models.load(root / f"{name}.pt"), [(int(p.stem), p) for p in images],
                        {**settings, "mode": "predict"}, root / f"{name}.pt")
        assert sorted(d["bbox"] for d in plain) != sorted(d["bbox"] for d in ours)
    for a, b in zip(sorted(ours, key=key), sorted(theirs, key=key)):
        assert a["image_id"] == b["image_id"] and to80[a["category_id"]] == b["category_id"]
        assert a["score"] == pytest.approx(b["score"], abs=2e-5)
        assert a["bbox"] == pytest.approx(b["bbox"], abs=2e-3)
        if task == "segment":
            ma, mb = mask_utils.decode(a["segmentation"]), mask_utils.decode(b["segmentation"])
            assert ma.shape == mb.shape and (ma != mb).sum() <= max(1, 0.001 * ma.size)
