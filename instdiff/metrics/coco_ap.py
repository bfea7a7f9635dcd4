"""COCO box and mask AP / AR of detections on an experiment's images.

Definitions (pycocotools ``COCOeval``, the evaluator ultralytics calls for COCO and that produced the paper's
Table 1; see reference §5.1):

- ``ap``   = stats[0]: AP averaged over IoU thresholds 0.50:0.05:0.95, all areas, at most 100 detections;
- ``ap50`` = stats[1]: AP at IoU 0.50;
- ``ar``   = stats[8]: AR averaged over IoU 0.50:0.95, all areas, at most 100 detections per image.

``iou_type`` is ``bbox`` (box IoU) or ``segm`` (mask IoU). Only the evaluated image ids count
(``COCOeval.params.imgIds``), so a subset of generated images is scored against exactly its own GT.

Backends: ``pycocotools`` (default, the reference implementation) and ``faster-coco-eval`` (a C++ port, several
times faster on 5,000 images); ``tests/unit/test_coco_ap.py`` checks that both give identical stats.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from instdiff.errors import InputError
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
    stats = np.asarray(run(gt, dets, iou_type, ids), dtype=np.float64)
    return {
        "ap": float(stats[0]),
        "ap50": float(stats[1]),
        "ar": float(stats[8]),
        "stats": {name: float(v) for name, v in zip(STAT_NAMES, stats)},
        "n_images": len(ids),
        "n_detections": len(dets),
    }


def _pycocotools(gt, dets: list[dict], iou_type: str, ids: list) -> np.ndarray:
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
    return ev.stats


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
    return np.asarray(ev.stats[:12])
