"""COCO box and mask AP / AR of detections on an experiment's images.

Definitions (pycocotools ``COCOeval``, the evaluator ultralytics calls for COCO and that produced the paper's
Table 1; see reference §5.1):

- ``ap``   = stats[0]: AP averaged over IoU thresholds 0.50:0.05:0.95, all areas, at most 100 detections;
- ``ap50`` = stats[1]: AP at IoU 0.50;
- ``ar`` = ``ar100`` = stats[8]: AR averaged over IoU 0.50:0.95, all areas, at most 100 detections per image;
- ``per_category``: AP of each category (``eval["precision"]`` averaged over IoU thresholds and recall points,
  area "all", 100 detections; null for a category without GT in the evaluated images);
- ``intervals``: percentile bootstrap CIs of ap / ap50 / ar100 over images (:func:`bootstrap_intervals`).

``iou_type`` is ``bbox`` (box IoU) or ``segm`` (mask IoU). Only the evaluated image ids count
(``COCOeval.params.imgIds``), so a subset of generated images is scored against exactly its own GT.

Backends: ``pycocotools`` (default, the reference implementation) and ``faster-coco-eval`` (a C++ port, several
times faster on 5,000 images); ``tests/unit/test_coco_ap.py`` checks that both give identical stats.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from instdiff.core.errors import InputError
from instdiff.metrics.cocofiles import quiet

log = logging.getLogger(__name__)

IOU_TYPES = ("bbox", "segm")
BACKENDS = ("pycocotools", "faster-coco-eval")
STAT_NAMES = [
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
]


def coco_eval(gt, results: list[dict], iou_type: str, image_ids: Sequence | None = None,
              backend: str = "pycocotools") -> dict[str, Any]:
    """Run COCOeval on ``results`` (checked COCO results) against ``gt`` (a pycocotools ``COCO``).

    Returns ``{"ap", "ap50", "ar", "stats": {name: value for the 12 COCO numbers}, "n_images", "n_detections"}``.
    """
    if iou_type not in IOU_TYPES:
        raise InputError(None, f"unknown iou type {iou_type!r}", f"use one of {IOU_TYPES}", "iou_type")
    if backend not in BACKENDS:
        raise InputError(None, f"unknown COCO eval backend {backend!r}", f"use one of {BACKENDS}", "backend")
    ids = list(gt.imgs) if image_ids is None else list(image_ids)
    keep = set(ids)
    dets = [dict(d) for d in results if d["image_id"] in keep]  # copies: loadRes adds keys in place
    if iou_type == "segm":
        dets = [d for d in dets if "segmentation" in d]
    run = _pycocotools if backend == "pycocotools" else _faster
    ev = run(gt, dets, iou_type, ids)
    stats = np.asarray(ev.stats[:12], dtype=np.float64)
    return {
        "ap": float(stats[0]),
        "ap50": float(stats[1]),
        "ar": float(stats[8]),
        "ar100": float(stats[8]),
        "stats": {name: float(v) for name, v in zip(STAT_NAMES, stats)},
        "per_category": per_category_ap(ev, gt),
        "n_images": len(ids),
        "n_detections": len(dets),
        "evaluator": ev,
    }


def per_category_ap(ev, gt) -> list[dict]:
    """AP per category from an accumulated evaluator (area "all", the last maxDets, i.e. 100)."""
    precision = np.asarray(ev.eval["precision"])  # [T, R, K, A, M]; -1 where a category has no GT
    out = []
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        out.append({"id": int(cat_id), "name": str(gt.cats[cat_id].get("name", cat_id)),
                    "ap": float(p.mean()) if p.size else None})
    return out


def bootstrap_intervals(ev, resamples: int, seed: int, level: float = 0.95) -> dict[str, dict]:
    """Percentile bootstrap CIs of ap, ap50 and ar100 over images (pycocotools evaluator only).

    Each resample draws the evaluated images with replacement (``numpy.random.default_rng(seed)``) and
    re-accumulates pycocotools' per-image matches (``evalImgs``) for those images, so detections are matched once
    and a duplicated image counts its GT and detections twice. Only area "all" at 100 detections is accumulated,
    by :func:`_accumulate`: ``COCOeval.accumulate``'s arithmetic on arrays gathered once per category (the same
    numbers, a resample costs a few array operations per category instead of pycocotools' Python loops).
    """
    pe = ev._paramsEval
    n_img, n_area = len(pe.imgIds), len(pe.areaRng)
    n_cat = len(pe.catIds) if pe.useCats else 1
    if n_img < 2 or resamples < 1:
        return {}
    rng = np.random.default_rng(seed)
    cats = _match_arrays(ev, n_cat, n_area, n_img, pe.maxDets[-1])
    rec_thrs = np.asarray(pe.recThrs, dtype=np.float64)
    draws = {"ap": [], "ap50": [], "ar100": []}
    for _ in range(resamples):
        idx = rng.integers(0, n_img, size=n_img)
        prec, rec = _accumulate(cats, idx, n_cat, len(pe.iouThrs), rec_thrs)
        draws["ap"].append(_mean_valid(prec))
        draws["ap50"].append(_mean_valid(prec[0]))
        draws["ar100"].append(_mean_valid(rec))
    alpha = (1.0 - level) / 2.0
    out = {}
    for key, vals in draws.items():
        low, high = np.quantile(np.asarray(vals), [alpha, 1.0 - alpha])
        out[key] = {"low": float(low), "high": float(high), "level": level, "resamples": int(resamples),
                    "seed": int(seed), "method": "image bootstrap, percentile"}
    out["ar"] = dict(out["ar100"])
    return out


def _match_arrays(ev, n_cat: int, n_area: int, n_img: int, max_det: int) -> list:
    """Per category: for each image, (scores, matched and not ignored, unmatched and not ignored, non-ignored GT) of
    area "all" at ``max_det`` detections, or None where pycocotools has no entry; None for a category without any."""
    out = []
    for k in range(n_cat):
        per_image = []
        for j in range(n_img):
            e = ev.evalImgs[k * n_area * n_img + j]
            if e is None:
                per_image.append(None)
                continue
            dtm, dt_ig = e["dtMatches"][:, :max_det], e["dtIgnore"][:, :max_det]
            per_image.append((np.asarray(e["dtScores"][:max_det]), np.logical_and(dtm, np.logical_not(dt_ig)),
                              np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig)),
                              int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))))
        out.append(per_image if any(x is not None for x in per_image) else None)
    return out


def _accumulate(cats: list, idx: np.ndarray, n_cat: int, n_iou: int, rec_thrs: np.ndarray):
    """``COCOeval.accumulate`` for the images ``idx`` (with repeats), one area and one max-detections setting:
    (precision T x R x K, recall T x K), -1 where a category has no non-ignored GT."""
    precision = -np.ones((n_iou, len(rec_thrs), n_cat))
    recall = -np.ones((n_iou, n_cat))
    for k, per_image in enumerate(cats):
        if per_image is None:
            continue
        entries = [per_image[j] for j in idx if per_image[j] is not None]
        if not entries:
            continue
        npig = sum(e[3] for e in entries)
        if npig == 0:
            continue
        # pycocotools sorts the concatenated scores with a stable mergesort: ties keep the images' order.
        order = np.argsort(-np.concatenate([e[0] for e in entries]), kind="mergesort")
        tp_sum = np.cumsum(np.concatenate([e[1] for e in entries], axis=1)[:, order], axis=1).astype(dtype=float)
        fp_sum = np.cumsum(np.concatenate([e[2] for e in entries], axis=1)[:, order], axis=1).astype(dtype=float)
        nd = tp_sum.shape[1]
        if nd == 0:
            recall[:, k] = 0
            precision[:, :, k] = 0
            continue
        rc = tp_sum / npig
        pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
        recall[:, k] = rc[:, -1]
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # the precision envelope, right to left
        for t in range(n_iou):
            inds = np.searchsorted(rc[t], rec_thrs, side="left")
            # pycocotools fills recall points until the first one past the last detection and leaves the rest 0.
            precision[t, :, k] = np.where(inds < nd, pr[t, np.minimum(inds, nd - 1)], 0.0)
    return precision, recall


def _mean_valid(a: np.ndarray) -> float:
    """pycocotools' summarize: the mean over entries > -1, or -1 when there are none."""
    v = a[a > -1]
    return float(v.mean()) if v.size else -1.0


def _pycocotools(gt, dets: list[dict], iou_type: str, ids: list):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with quiet():
        if dets:
            dt = gt.loadRes(dets)
        else:  # loadRes cannot take an empty list; an empty result set scores 0 where GT exists
            dt = COCO()
            dt.dataset = {"images": list(gt.dataset["images"]), "categories": list(gt.dataset["categories"]),
                          "annotations": []}
            dt.createIndex()
        ev = COCOeval(gt, dt, iou_type)
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _faster(gt, dets: list[dict], iou_type: str, ids: list) -> np.ndarray:
    from faster_coco_eval import COCO as FastCOCO
    from faster_coco_eval import COCOeval_faster

    with quiet():
        fgt = FastCOCO(gt.dataset)
        fdt = fgt.loadRes(dets) if dets else FastCOCO({"images": list(gt.dataset["images"]),
                                                      "categories": list(gt.dataset["categories"]),
                                                      "annotations": []})
        ev = COCOeval_faster(fgt, fdt, iou_type, print_function=log.debug)
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev
