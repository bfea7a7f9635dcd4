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
    and a duplicated image counts its GT and detections twice. Only area "all" at 100 detections is accumulated.

    The re-accumulation is :func:`resample_accumulate`: ``COCOeval.accumulate`` on the drawn images in ascending
    order, vectorised (about 4.6 s per resample at 5,000 images in pycocotools' own loop, a few ms here;
    benchmarks/README.md), so the default 1,000 resamples fit a metric job.
    """
    pe = ev._paramsEval
    n_img = len(pe.imgIds)
    if n_img < 2 or resamples < 1:
        return {}
    tables = accumulate_tables(ev)
    rng = np.random.default_rng(seed)
    draws = {"ap": [], "ap50": [], "ar100": []}
    for _ in range(resamples):
        weights = np.bincount(rng.integers(0, n_img, size=n_img), minlength=n_img)
        precision, recall = resample_accumulate(tables, weights, np.asarray(pe.recThrs))
        draws["ap"].append(_mean_valid(precision))
        draws["ap50"].append(_mean_valid(precision[0]))
        draws["ar100"].append(_mean_valid(recall))
    alpha = (1.0 - level) / 2.0
    out = {}
    for key, vals in draws.items():
        low, high = np.quantile(np.asarray(vals), [alpha, 1.0 - alpha])
        out[key] = {"low": float(low), "high": float(high), "level": level, "resamples": int(resamples),
                    "seed": int(seed), "method": "image bootstrap, percentile"}
    out["ar"] = dict(out["ar100"])
    return out


def accumulate_tables(ev) -> list[dict | None]:
    """Per category (area "all", the last maxDets): the evaluated images' detections in pycocotools' accumulate
    order (concatenated in image order, then a stable sort by descending score), as true / false positive flags
    per IoU threshold, with the image of each detection and each image's count of non-ignored GT. None for a
    category with no entry in any image."""
    pe = ev._paramsEval
    n_img, n_area = len(pe.imgIds), len(pe.areaRng)
    n_cat = len(pe.catIds) if pe.useCats else 1
    max_det = pe.maxDets[-1]
    n_iou = len(pe.iouThrs)
    tables: list[dict | None] = []
    for k in range(n_cat):
        scores, dtm, dtig, img = [], [], [], []
        npig = np.zeros(n_img, np.int64)
        present = False
        for i in range(n_img):
            e = ev.evalImgs[k * n_area * n_img + i]
            if e is None:
                continue
            present = True
            s = np.asarray(e["dtScores"][:max_det], dtype=np.float64)
            scores.append(s)
            dtm.append(np.asarray(e["dtMatches"])[:, :max_det].reshape(n_iou, -1))
            dtig.append(np.asarray(e["dtIgnore"])[:, :max_det].reshape(n_iou, -1))
            img.append(np.full(s.size, i, np.int64))
            npig[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        if not present:
            tables.append(None)
            continue
        s = np.concatenate(scores) if scores else np.zeros(0)
        order = np.argsort(-s, kind="mergesort")  # pycocotools' sort: ties keep the image order
        m = np.concatenate(dtm, axis=1)[:, order] if scores else np.zeros((n_iou, 0))
        ig = np.concatenate(dtig, axis=1)[:, order].astype(bool) if scores else np.zeros((n_iou, 0), bool)
        tables.append({"tp": np.logical_and(m != 0, ~ig), "fp": np.logical_and(m == 0, ~ig),
                       "img": np.concatenate(img)[order] if scores else np.zeros(0, np.int64), "npig": npig})
    return tables


def resample_accumulate(tables: list[dict | None], weights: np.ndarray,
                        rec_thrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``COCOeval.accumulate`` (area "all", the last maxDets) of a resample in which image i appears
    ``weights[i]`` times, the images in ascending order: precision [T, R, K] and recall [T, K], -1 where a category
    has no GT in the resample. Equal to pycocotools on ``evalImgs`` of the sorted draw (``tests/unit/
    test_coco_ap.py``) up to the order of equal scores within one image; the precision envelope is its
    right-to-left maximum and the recall thresholds are looked up with ``searchsorted(side="left")`` as there."""
    n_iou = next((t["tp"].shape[0] for t in tables if t is not None), 1)
    precision = -np.ones((n_iou, len(rec_thrs), len(tables)))
    recall = -np.ones((n_iou, len(tables)))
    for k, t in enumerate(tables):
        if t is None:
            continue
        npig = int(np.dot(weights, t["npig"]))
        if npig == 0:
            continue
        rep = np.repeat(np.arange(t["img"].size), weights[t["img"]])
        nd = rep.size
        if nd == 0:
            precision[:, :, k], recall[:, k] = 0.0, 0.0
            continue
        tp = np.cumsum(t["tp"][:, rep], axis=1, dtype=np.float64)
        fp = np.cumsum(t["fp"][:, rep], axis=1, dtype=np.float64)
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
        recall[:, k] = rc[:, -1]
        for j in range(n_iou):
            inds = np.searchsorted(rc[j], rec_thrs, side="left")
            precision[j, :, k] = np.where(inds < nd, pr[j, np.minimum(inds, nd - 1)], 0.0)
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
