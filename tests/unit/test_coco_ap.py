"""COCO AP/AR on hand-checkable cases; the faster-coco-eval backend agrees with pycocotools; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from instdiff.core.errors import InputError
from instdiff.metrics.coco_ap import coco_eval
from instdiff.metrics.cocofiles import load_gt, load_results
from tests.unit.metrics_data import dets, gt_file, square


@pytest.fixture()
def gt(tmp_path):
    # image 1: two separate GT squares; image 2: one GT square
    return load_gt(gt_file(tmp_path / "gt.json", {
        1: [square(64, 64, 0, 16, 0, 16), square(64, 64, 32, 48, 32, 48)],
        2: [square(64, 64, 8, 24, 8, 24)],
    }, size=(64, 64)))


def perfect(gt):
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0,
             "segmentation": a["segmentation"]} for a in gt.dataset["annotations"]]


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("backend", ["pycocotools", "faster-coco-eval"])
def test_predictions_equal_to_gt_score_one(gt, iou_type, backend):
    r = coco_eval(gt, perfect(gt), iou_type, backend=backend)
    assert (r["ap"], r["ap50"], r["ar"]) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_partial_case_by_hand(gt, iou_type):
    """Image 1 only: one exact hit (score 0.9) and one false positive (0.8) for two GT.

    At every IoU threshold recall reaches 0.5 with precision 1 at rank 1, so the 101-point interpolated
    precision is 1 at recall 0.00..0.50 (51 points) and 0 above: AP = AP50 = 51/101; AR = 0.5.
    """
    preds = dets(1, [square(64, 64, 0, 16, 0, 16), square(64, 64, 50, 60, 0, 10)], scores=[0.9, 0.8])
    r = coco_eval(gt, preds, iou_type, image_ids=[1])
    assert r["ap"] == pytest.approx(51 / 101, abs=1e-12)
    assert r["ap50"] == pytest.approx(51 / 101, abs=1e-12)
    assert r["ar"] == pytest.approx(0.5, abs=1e-12)
    # Evaluating image 2 as well adds an undetected GT: recall 1/3, AP = 34/101
    r_all = coco_eval(gt, preds, iou_type)
    assert r_all["ar"] == pytest.approx(1 / 3, abs=1e-12)
    assert r_all["ap"] == pytest.approx(34 / 101, abs=1e-12)


def test_no_detections_scores_zero(gt):
    r = coco_eval(gt, [], "bbox")
    assert (r["ap"], r["ar"]) == (0.0, 0.0)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_faster_coco_eval_agrees_with_pycocotools(gt, iou_type):
    rng = np.random.default_rng(0)
    preds = []
    for img in (1, 2):
        for _ in range(6):
            r0, c0 = rng.integers(0, 48, 2)
            h, w = rng.integers(4, 17, 2)
            preds += dets(img, [square(64, 64, r0, r0 + h, c0, c0 + w)], scores=[float(rng.random())])
    preds += dets(1, [square(64, 64, 1, 15, 1, 16)], scores=[0.5])
    a = coco_eval(gt, preds, iou_type, backend="pycocotools")["stats"]
    b = coco_eval(gt, preds, iou_type, backend="faster-coco-eval")["stats"]
    # Equal up to float rounding of the averages (the C++ port sums in another order): not bit-identical.
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=1e-12), key


def test_results_with_unknown_image_ids_name_the_file(gt, tmp_path):
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(dets(99, [square(64, 64, 0, 4, 0, 4)])))
    with pytest.raises(InputError) as err:
        load_results(path, gt)
    assert str(path) in str(err.value) and "99" in str(err.value) and err.value.field == "image_id"


@pytest.mark.parametrize("content,field", [
    ([1, 2, 3], None),
    ({"images": [], "annotations": []}, "categories"),
    ({"images": [{"id": 1}], "annotations": [], "categories": []}, "images[0].width"),
    ({"images": [{"id": 1, "width": 8, "height": 8}], "annotations": [{"id": 1, "image_id": 2, "category_id": 1}],
      "categories": [{"id": 1}]}, "annotations[0].image_id"),
])
def test_non_coco_annotation_file_is_rejected(tmp_path, content, field):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputError) as err:
        load_gt(path)
    assert str(path) in str(err.value)
    assert err.value.field == field


def test_segm_needs_masks(gt, tmp_path):
    path = tmp_path / "pred.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.5}]))
    with pytest.raises(InputError, match="segmentation"):
        load_results(path, gt, need_masks=True)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_ultralytics_r_by_hand_differs_from_coco_ar100(tmp_path, iou_type):
    """Four GT squares; exact hits at confidence 0.9, 0.85, 0.8, then 20 false positives at 0.3 and the fourth exact
    hit at 0.1.

    COCO AR@100 counts every hit within 100 detections: 4/4 = 1.0. ultralytics' R is recall at the confidence of
    maximum (smoothed) mean F1: keeping the three confident hits gives F1 = 2 * 1 * 0.75 / 1.75 = 0.857, while
    going down to 0.1 to find the fourth gives precision 4/24 and F1 = 0.286, so R = 3/4.
    """
    from instdiff.metrics.ultralytics_ap import ultralytics_metrics

    gts = [square(100, 100, 0, 20, 0, 20), square(100, 100, 0, 20, 40, 60), square(100, 100, 50, 70, 0, 20),
           square(100, 100, 50, 70, 50, 70)]
    gt = load_gt(gt_file(tmp_path / "gt.json", {1: gts}, size=(100, 100)))
    fps = [square(100, 100, 80 + i % 4 * 4, 82 + i % 4 * 4, 80 + i // 4 * 3, 82 + i // 4 * 3) for i in range(20)]
    preds = dets(1, gts[:3] + fps + [gts[3]], scores=[0.9, 0.85, 0.8] + [0.3] * 20 + [0.1])
    assert coco_eval(gt, preds, iou_type)["ar100"] == pytest.approx(1.0)
    ul = ultralytics_metrics(gt, preds, iou_type)
    assert ul["r"] == pytest.approx(0.75) and ul["n_classes"] == 1
    # Without the false positives the fourth hit is inside the max-F1 set: R = 1.
    assert ultralytics_metrics(gt, dets(1, gts, scores=[0.9, 0.85, 0.8, 0.1]), iou_type)["r"] == pytest.approx(1.0)


def test_vectorised_bootstrap_equals_pycocotools_accumulate(tmp_path):
    """resample_accumulate (the bootstrap's re-accumulation) against COCOeval.accumulate itself on the same
    resamples (pycocotools' per-image matches of the drawn images, in ascending order): equal precision and recall
    for every IoU threshold, recall point and category; a category without GT stays -1."""
    import copy

    from instdiff.metrics.coco_ap import accumulate_tables, bootstrap_intervals, resample_accumulate

    rng = np.random.default_rng(3)
    images, preds = {}, []
    for img in range(1, 21):
        gts = []
        for _ in range(int(rng.integers(0, 4))):
            r0, c0 = rng.integers(0, 48, 2)
            h, w = rng.integers(4, 17, 2)
            gts.append(square(64, 64, r0, r0 + h, c0, c0 + w))
            if rng.random() < 0.7:  # a jittered hit
                preds += dets(img, [square(64, 64, r0 + 1, r0 + h, c0, c0 + w - 1)], scores=[float(rng.random())])
        images[img] = gts
        for _ in range(int(rng.integers(0, 5))):  # false positives, of both categories
            r0, c0 = rng.integers(0, 48, 2)
            preds += dets(img, [square(64, 64, r0, r0 + 8, c0, c0 + 8)], scores=[float(rng.random())],
                          category_id=int(rng.choice([1, 18])))
    gt = load_gt(gt_file(tmp_path / "gt.json", images, size=(64, 64)))
    ev = coco_eval(gt, preds, "bbox")["evaluator"]
    pe = ev._paramsEval
    n_img, n_area = len(pe.imgIds), len(pe.areaRng)
    tables = accumulate_tables(ev)
    for _ in range(5):
        idx = np.sort(rng.integers(0, n_img, size=n_img))
        precision, recall = resample_accumulate(tables, np.bincount(idx, minlength=n_img), np.asarray(pe.recThrs))
        boot, p = copy.copy(ev), copy.deepcopy(pe)
        p.imgIds = list(range(n_img))
        p.areaRng, p.areaRngLbl, p.maxDets = [pe.areaRng[0]], [pe.areaRngLbl[0]], [pe.maxDets[-1]]
        boot._paramsEval = boot.params = p
        boot.evalImgs = [ev.evalImgs[k * n_area * n_img + j] for k in range(len(pe.catIds)) for j in idx]
        boot.accumulate(p)
        np.testing.assert_allclose(precision, boot.eval["precision"][:, :, :, 0, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(recall, boot.eval["recall"][:, :, 0, 0], rtol=0, atol=1e-12)
        assert (precision[:, :, list(pe.catIds).index(18)] == -1).all()  # no GT of category 18
    iv = bootstrap_intervals(ev, 200, seed=0)
    assert 0.0 <= iv["ap"]["low"] <= iv["ap"]["high"] <= 1.0 and iv["ap"]["resamples"] == 200


def _random_case(tmp_path, seed=5):
    """20 images of jittered hits and false positives, over categories 1 and 18 (a few images without GT)."""
    rng = np.random.default_rng(seed)
    images, preds, cats = {}, [], []
    for img in range(1, 21):
        gts = []
        for _ in range(int(rng.integers(0, 4))):
            r0, c0 = rng.integers(0, 48, 2)
            h, w = rng.integers(4, 17, 2)
            cat = int(rng.choice([1, 18]))
            gts.append(square(64, 64, r0, r0 + h, c0, c0 + w))
            cats.append(cat)
            if rng.random() < 0.8:  # a jittered hit, sometimes of the wrong class
                preds += dets(img, [square(64, 64, r0 + int(rng.integers(0, 3)), r0 + h, c0, c0 + w - 1)],
                              scores=[float(rng.random())], category_id=cat if rng.random() < 0.85 else 19 - cat)
        images[img] = gts
        for _ in range(int(rng.integers(0, 4))):
            r0, c0 = rng.integers(0, 48, 2)
            preds += dets(img, [square(64, 64, r0, r0 + 8, c0, c0 + 8)], scores=[float(rng.random())],
                          category_id=int(rng.choice([1, 18])))
    path = gt_file(tmp_path / "gt.json", images, size=(64, 64))
    data = json.loads(path.read_text())
    for ann, cat in zip(data["annotations"], cats):
        ann["category_id"] = cat
    path.write_text(json.dumps(data))
    return load_gt(path), preds


def test_ultralytics_metrics_equal_the_detection_validators_own(tmp_path):
    """P, R, mAP50 and mAP50-95 equal what a real DetectionValidator computes from the same boxes: its IoU vector,
    its ``_process_batch`` (box_iou + match_predictions, per image, detections by descending confidence) and its
    ``DetMetrics``. ultralytics_metrics binds ``match_predictions`` and sets ``iouv`` without a validator (no
    torchvision import): this pins both to the validator's own pipeline (mAP50-95 reads every IoU threshold)."""
    import tempfile
    from pathlib import Path

    import torch

    from instdiff.detection.ultralytics_env import setup
    from instdiff.metrics.cocofiles import results_by_image
    from instdiff.metrics.ultralytics_ap import ultralytics_metrics

    gt, preds = _random_case(tmp_path)
    setup()
    from ultralytics.models.yolo.detect import DetectionValidator

    with tempfile.TemporaryDirectory() as tmp:
        v = DetectionValidator(save_dir=Path(tmp))
    v.metrics.names = {i: str(i) for i in range(91)}
    by_image = results_by_image(preds)
    for img_id in gt.imgs:
        anns = gt.imgToAnns.get(img_id, [])
        ds = sorted(by_image.get(img_id, []), key=lambda d: -d["score"])
        xyxy = lambda bs: torch.tensor([[x, y, x + w, y + h] for x, y, w, h in bs], dtype=torch.float64).reshape(-1, 4)
        t_cls = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        p_cls = torch.tensor([d["category_id"] for d in ds], dtype=torch.int64)
        tp = v._process_batch({"cls": p_cls, "bboxes": xyxy([d["bbox"] for d in ds])},
                              {"cls": t_cls, "bboxes": xyxy([a["bbox"] for a in anns])})["tp"]
        v.metrics.update_stats({"tp": tp, "conf": np.array([d["score"] for d in ds]), "pred_cls": p_cls.numpy(),
                                "target_cls": t_cls.numpy(), "target_img": np.unique(t_cls.numpy()),
                                "im_name": f"{img_id}.png"})
    v.metrics.process()
    ours = ultralytics_metrics(gt, preds, "bbox")
    box = v.metrics.box
    assert 0 < box.mr < 1 and 0 < box.map < box.map50 < 1  # a case that exercises the curves
    assert (ours["p"], ours["r"], ours["map50"], ours["map"]) == (box.mp, box.mr, box.map50, box.map)
    assert ours["n_classes"] == 2


def test_ultralytics_metrics_import_no_torchvision(tmp_path):
    """The coco_ap job's CPU: ultralytics' matching without constructing a validator, whose __init__ imports
    torchvision and torch._dynamo (2-3 s of a 4 s job on the smoke's cores)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])  # this checkout's instdiff, whatever the venv has installed
    gt_path = gt_file(tmp_path / "gt.json", {1: [square(64, 64, 0, 16, 0, 16)]}, size=(64, 64))
    (tmp_path / "dets.json").write_text(json.dumps(dets(1, [square(64, 64, 0, 16, 1, 16)])))
    code = ("import json, sys\n"
            "from instdiff.metrics.cocofiles import load_gt\n"
            "from instdiff.metrics.ultralytics_ap import ultralytics_metrics\n"
            f"gt = load_gt({str(gt_path)!r})\n"
            f"r = ultralytics_metrics(gt, json.load(open({str(tmp_path / 'dets.json')!r})), 'bbox')\n"
            "assert r['r'] == 1.0, r\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision' or m == 'torch._dynamo'))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / "yolo"),
                                             "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"  # (ultralytics may first say it wrote its settings)
