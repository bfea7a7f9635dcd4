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


def _bootstrap_by_pycocotools(ev, resamples, seed, level=0.95):
    """The bootstrap as it was written first: pycocotools' own ``COCOeval.accumulate`` on each resample's
    ``evalImgs`` (area "all", 100 detections); the reference the array version must equal bit for bit."""
    import copy

    from instdiff.metrics.cocofiles import quiet

    pe = ev._paramsEval
    n_img, n_area = len(pe.imgIds), len(pe.areaRng)
    n_cat = len(pe.catIds)
    rng = np.random.default_rng(seed)
    draws = {"ap": [], "ap50": [], "ar100": []}
    boot = copy.copy(ev)

    def mean_valid(a):
        v = a[a > -1]
        return float(v.mean()) if v.size else -1.0

    for _ in range(resamples):
        idx = rng.integers(0, n_img, size=n_img)
        p = copy.deepcopy(pe)
        p.imgIds = list(range(n_img))
        p.areaRng, p.areaRngLbl, p.maxDets = [pe.areaRng[0]], [pe.areaRngLbl[0]], [pe.maxDets[-1]]
        boot._paramsEval, boot.params = p, p
        boot.evalImgs = [ev.evalImgs[k * n_area * n_img + j] for k in range(n_cat) for j in idx]
        with quiet():
            boot.accumulate(p)
        prec, rec = boot.eval["precision"][:, :, :, 0, 0], boot.eval["recall"][:, :, 0, 0]
        draws["ap"].append(mean_valid(prec))
        draws["ap50"].append(mean_valid(prec[0]))
        draws["ar100"].append(mean_valid(rec))
    alpha = (1.0 - level) / 2.0
    return {key: [float(x) for x in np.quantile(np.asarray(v), [alpha, 1.0 - alpha])] for key, v in draws.items()}


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_bootstrap_intervals_equal_pycocotools_accumulate_on_every_resample(tmp_path, iou_type, monkeypatch):
    from pycocotools.cocoeval import COCOeval

    from instdiff.metrics.coco_ap import bootstrap_intervals

    rng = np.random.default_rng(5)
    # Five images, one without GT; two categories, the second ("dog", id 18) with detections but no GT (its AP stays
    # -1 and must not count); tied scores across images (pycocotools' stable sort keeps the images' order).
    images = {i: [square(64, 64, r, r + 16, c, c + 16) for r, c in rng.integers(0, 48, (int(n), 2))]
              for i, n in zip(range(1, 6), (2, 1, 3, 0, 2))}
    gt = load_gt(gt_file(tmp_path / "gt.json", images, size=(64, 64)))
    preds = []
    for img in range(1, 6):
        for j in range(5):
            r0, c0 = rng.integers(0, 48, 2)
            score = 0.5 if j == 0 else float(rng.random())
            preds += dets(img, [square(64, 64, r0, r0 + 16, c0, c0 + int(rng.integers(8, 17)))], scores=[score],
                          category_id=1 if j < 4 else 18)
        for m in images[img][:1]:   # one good detection per image with GT, so AP is away from 0
            preds += dets(img, [m], scores=[0.5])
    ev = coco_eval(gt, preds, iou_type)["evaluator"]
    want = {seed: _bootstrap_by_pycocotools(ev, 40, seed) for seed in (0, 1)}
    # pycocotools' Python loops per resample were the cost (~6 ms each on the smoke's 80 categories): not called.
    monkeypatch.setattr(COCOeval, "accumulate", lambda *a, **k: pytest.fail("accumulate called per resample"))
    for seed in (0, 1):
        got = bootstrap_intervals(ev, 40, seed)
        assert {k: [got[k]["low"], got[k]["high"]] for k in want[seed]} == want[seed]
        assert 0 < got["ap"]["low"] <= got["ap"]["high"] < 1
