"""ultralytics' own detection metrics (what ``yolo val`` prints as P, R, mAP50, mAP50-95) on a COCO results file.

Why: the paper's upper-bound AR (61.0 for yolov8m) matches ultralytics' R, not COCO AR@100, so the tables show both.
Nothing is re-derived here: detections are matched to the ground truth by the validator's own
``BaseValidator.match_predictions`` (greedy by confidence, same class, at ``DetectionValidator``'s IoU thresholds
0.50:0.05:0.95, IoU from ``ultralytics.utils.metrics.box_iou`` / ``mask_iou``), and ``ultralytics.utils.metrics.ap_per_class`` turns the
matches into per-class precision / recall at the confidence that maximises the mean F1 (IoU 0.5), and AP.

- ``r``  = mean over classes of recall at that confidence (``Metric.mr``, the validator's "R");
- ``p``  = the same for precision (``Metric.mp``, "P");
- ``map50`` / ``map`` = ultralytics' mAP50 and mAP50-95 (its own interpolation, not pycocotools').

Classes are the COCO category ids of both files; crowd GT annotations are left out (ultralytics' COCO labels have
none). Only the evaluated images count; an image without GT contributes its detections as false positives.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from instdiff.metrics.cocofiles import results_by_image


def _matcher():
    """``BaseValidator.match_predictions`` bound to an object holding all that it reads of its validator: ``iouv``,
    as ``DetectionValidator.__init__`` sets it (``tests/unit/test_coco_ap.py`` compares both with a real validator).

    Why not a validator: ``BaseValidator.__init__`` imports torchvision, and with it ``torch._dynamo``, for its own
    timing (2-3 s of each metric job's CPU); matching needs neither.
    """
    from instdiff.detection.ultralytics_env import setup

    setup()
    import torch
    from ultralytics.engine.validator import BaseValidator

    class Matcher:
        match_predictions = BaseValidator.match_predictions

        def __init__(self):
            self.iouv = torch.linspace(0.5, 0.95, 10)  # DetectionValidator.__init__'s IoU vector for mAP@0.5:0.95

    return Matcher()


def _xyxy(boxes: list) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def _masks(segms: list, h: int, w: int) -> np.ndarray:
    from pycocotools import mask as mask_utils

    from instdiff.metrics.cocofiles import to_rle

    out = np.zeros((len(segms), h * w), dtype=np.float32)
    for i, s in enumerate(segms):
        out[i] = mask_utils.decode(to_rle(s, h, w, "segmentation", None)).reshape(-1)
    return out


def ultralytics_metrics(gt, results: list[dict], iou_type: str, image_ids: Sequence | None = None) -> dict[str, Any]:
    """P, R, mAP50, mAP50-95 as ultralytics' validator computes them (see module docstring)."""
    import torch

    matcher = _matcher()  # first: it sets ultralytics' offline environment before the import below
    from ultralytics.utils.metrics import ap_per_class, box_iou, mask_iou

    n_iou = len(matcher.iouv)
    ids = list(gt.imgs) if image_ids is None else list(image_ids)
    by_image = results_by_image(results)
    tps, confs, pred_cls, target_cls = [], [], [], []
    for img_id in ids:
        anns = [a for a in gt.imgToAnns.get(img_id, []) if not a.get("iscrowd", 0)]
        dets = sorted(by_image.get(img_id, []), key=lambda d: -d["score"])  # the validator's confidence order
        t_cls = np.array([a["category_id"] for a in anns], dtype=np.int64)
        p_cls = np.array([d["category_id"] for d in dets], dtype=np.int64)
        target_cls.append(t_cls)
        if not dets:
            continue
        correct = np.zeros((len(dets), n_iou), dtype=bool)
        if anns:
            if iou_type == "bbox":
                iou = box_iou(torch.from_numpy(_xyxy([a["bbox"] for a in anns])),
                              torch.from_numpy(_xyxy([d["bbox"] for d in dets])))
            else:
                info = gt.imgs[img_id]
                h, w = int(info["height"]), int(info["width"])
                gt_masks = np.stack([gt.annToMask(a).reshape(-1).astype(np.float32) for a in anns])
                iou = mask_iou(torch.from_numpy(gt_masks), torch.from_numpy(_masks([d["segmentation"] for d in dets], h, w)))
            correct = matcher.match_predictions(torch.from_numpy(p_cls), torch.from_numpy(t_cls), iou).numpy()
        tps.append(correct)
        confs.append(np.array([d["score"] for d in dets], dtype=np.float64))
        pred_cls.append(p_cls)
    if not tps or not np.concatenate(target_cls).size:
        return {"p": 0.0, "r": 0.0, "map50": 0.0, "map": 0.0, "n_classes": 0}
    _, _, p, r, _, ap, classes, *_ = ap_per_class(np.concatenate(tps), np.concatenate(confs),
                                                  np.concatenate(pred_cls), np.concatenate(target_cls))
    return {"p": float(p.mean()) if len(p) else 0.0, "r": float(r.mean()) if len(r) else 0.0,
            "map50": float(ap[:, 0].mean()) if len(ap) else 0.0, "map": float(ap.mean()) if len(ap) else 0.0,
            "n_classes": int(len(classes))}
