"""Per-instance records (``metrics/{experiment}/instances.jsonl``): one line per conditioned instance, so another
harness can re-aggregate our results (a detection rate, a success rate per category, PiM over a subset, ...).

Each line (``INSTANCES_FORMAT_VERSION``; docs/metrics.md, *Per-instance records*)::

    {"format_version", "experiment", "layout_id", "image_id", "instance", "ann_id", "category_id", "category",
     "phrase", "box",                                  # the layout's instance; box: normalised [x0, y0, x1, y1]
     "detector", "detection", "iou",                   # its matched detection and their box IoU (null: unmatched)
     "pim",                                            # {"point"|"scribble": {"hit", "detection", "mask_iou"}} or null
     "attribute"}                                      # {"word", "gt", "detected"} or null

- **Matched detection**: the rule of the attribute metric's detected variant
  (:func:`instdiff.metrics.attribute.items_with_detections`): only detections with confidence >= ``conf`` (the
  config's ``detection.attribute_conf``, 0.3) of the instance's own category; greedy in instance order, each taking
  the unmatched detection of highest box IoU (PiM's :func:`~instdiff.metrics.pim.greedy_match`, ties to the earlier,
  i.e. more confident, detection), kept at IoU >= ``iou_threshold`` (0.5). ``detection`` is
  ``{"index" (position in the detections file), "category_id", "score", "bbox" (pixels [x, y, w, h])}``.
- **PiM hit**, for an experiment scored by ``pim_point`` / ``pim_scribble``: what PiM's corrected variant scores for
  the instance (:func:`instdiff.metrics.pim.score_image_corrected` on the segmentation detector's masks): the
  fraction of the instance's conditioning points (its point, or its 20 scribble points) inside the mask matched to
  it, ``detection`` that mask's index in the file and ``mask_iou`` the pair's mask IoU. ``hit`` is null for an
  instance the metric does not score (no mask matched to it, or an empty ground-truth mask).
- **Attribute hit**, for an experiment scored by ``attribute``: whether CLIP named the instance's colour / texture
  (``word``) on its ground-truth box crop (``gt``) and on its matched detection's crop (``detected``), read from
  the attribute metric's own files (1 / 0; null where that variant scores nothing: a zero-size crop, no match).

The hits are those of the metric files (the same functions on the same inputs), so a mean of them over the
instances an image scores is that image's number in the metric file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from instdiff.core.errors import InputError
from instdiff.core.original_constants import MAX_OBJS

log = logging.getLogger(__name__)

INSTANCES_FORMAT_VERSION = 1
IOU_THRESHOLD = 0.5  # the attribute metric's detected-variant threshold
FIX = "rerun the metric rules of this experiment, then this one (they must read the same layouts and detections)"


def _layout_image_id(lay) -> Any:
    from instdiff.metrics.cocofiles import as_image_id

    return lay.image_id if lay.image_id is not None else as_image_id(lay.id)


def match_detections(boxes: Sequence[Sequence[float]], categories: Sequence[int | None], dets: Sequence[tuple[int, dict]],
                     width: int, height: int, conf: float, iou_threshold: float = IOU_THRESHOLD) -> list[tuple | None]:
    """Per instance, ``(index, detection, iou)`` of its matched detection or None (module docstring's rule).

    ``dets`` are one image's ``(index in the file, detection)`` pairs in file order.
    """
    from instdiff.core.layout import box_iou, coco_xywh_px_to_norm_xyxy
    from instdiff.metrics.pim import greedy_match

    kept = [(i, d) for i, d in dets if d["score"] >= conf]
    det_boxes = [coco_xywh_px_to_norm_xyxy(d["bbox"], width, height) for _, d in kept]
    # Another class's box is no partner: IoU -1, below any threshold (as items_with_detections).
    iou = np.array([[box_iou(g, b) if c == d["category_id"] else -1.0 for b, (_, d) in zip(det_boxes, kept)]
                    for g, c in zip(boxes, categories)], dtype=np.float64).reshape(len(boxes), len(kept))
    out: list[tuple | None] = [None] * len(boxes)
    for g, p in greedy_match(iou, iou_threshold):
        out[g] = (kept[p][0], kept[p][1], float(iou[g, p]))
    return out


def _indexed(results: Sequence[dict]) -> dict[Any, list[tuple[int, dict]]]:
    groups: dict[Any, list[tuple[int, dict]]] = {}
    for i, det in enumerate(results):
        groups.setdefault(det["image_id"], []).append((i, det))
    return groups


def pim_hits(gt, lay, masks: Sequence[tuple[int, dict]], mode: str, path) -> list[dict]:
    """Per instance of ``lay``, PiM's corrected score of its points (module docstring)."""

    from instdiff.metrics.cocofiles import to_rle
    from instdiff.metrics.pim import layout_targets, mask_iou_matrix, score_image_corrected

    img_id, h, w, gt_rles, points, categories = layout_targets(gt, lay, mode, path)
    pred_rles = [to_rle(d["segmentation"], h, w, f"image {img_id} segmentation", path) for _, d in masks]
    # the metric's own call (pim.pim_corrected): same-class detections above its confidence floor
    scored = score_image_corrected(gt_rles, pred_rles, points, mode, img_id, w, h, gt_categories=categories,
                                   pred_categories=[d["category_id"] for _, d in masks],
                                   pred_scores=[d["score"] for _, d in masks])
    iou = mask_iou_matrix(gt_rles, pred_rles)
    out = [{"hit": hit, "detection": None, "mask_iou": None} for hit in scored.instance_scores]
    for g, p in scored.matched_pairs:
        out[g].update(detection=masks[p][0], mask_iou=float(iou[g, p]))
    return out


def attribute_hits(per_image: Mapping[Any, dict], lay, boxes: Sequence, path) -> list[int | None]:
    """Per instance, its ``correct`` value in the attribute file's record of the image (None: not scored).

    ``boxes`` are the crops the variant took (the layout's boxes, or the matched detections' with None for a miss).
    The record lists a value for every instance with a box whose crop is not empty, in instance order.
    """
    from PIL import Image

    from instdiff.metrics.attribute import crop_box

    img_id = _layout_image_id(lay)
    rec = per_image.get(img_id)
    if rec is None:
        raise InputError(path, f"no record of image {img_id!r}", FIX, "per_image")
    canvas = Image.new("1", (lay.width, lay.height))
    scored = [k for k, box in enumerate(boxes[:MAX_OBJS]) if box is not None and crop_box(canvas, box) is not None]
    if len(scored) != len(rec["correct"]):
        raise InputError(path, f"image {img_id!r} lists {len(rec['correct'])} scored instances, its layout and "
                         f"detections give {len(scored)}", FIX, "per_image")
    out: list[int | None] = [None] * len(boxes[:MAX_OBJS])
    for k, value in zip(scored, rec["correct"]):
        out[k] = int(value)
    return out


def instance_records(annotations: str | Path, layouts: str | Path, done: str | Path, detections: str | Path,
                     detector: str, experiment: str, conf: float, masks: Mapping[str, str | Path] | None = None,
                     attribute: Mapping[str, str | Path] | None = None,
                     iou_threshold: float = IOU_THRESHOLD) -> list[dict[str, Any]]:
    """The records of an experiment's images (module docstring).

    ``masks``: PiM mode (point / scribble) -> the segmentation detections it scores; ``attribute``: variant (gt /
    detected) -> that attribute metric file. Only the images of ``done`` are recorded, in layout order.
    """
    from instdiff.core.io import read_json
    from instdiff.core.layout import read_layouts
    from instdiff.metrics import cocofiles

    gt = cocofiles.load_gt(annotations)
    ids = {str(i) for i in cocofiles.evaluated_ids(done, gt)}
    lays = [lay for lay in read_layouts(layouts) if str(_layout_image_id(lay)) in ids]
    dets = _indexed(cocofiles.load_results(detections, gt))
    mask_dets = {mode: _indexed(cocofiles.load_results(path, gt, need_masks=True))
                 for mode, path in (masks or {}).items()}
    attr = {}
    for variant, path in (attribute or {}).items():
        records = read_json(path).get("per_image") or []
        attr[variant] = (path, {rec["image_id"]: rec for rec in records})
    rows = []
    for lay in lays:
        img_id = _layout_image_id(lay)
        if img_id not in gt.imgs:
            raise InputError(layouts, f"layout {lay.id} refers to image {img_id!r}, not in {annotations}",
                             "build layouts and annotations from the same data", "image_id")
        w, h = int(gt.imgs[img_id]["width"]), int(gt.imgs[img_id]["height"])
        insts = lay.instances[:MAX_OBJS]
        matched = match_detections([i.box for i in insts], [i.category_id for i in insts], dets.get(img_id, []), w, h,
                                   conf, iou_threshold)
        pim = {mode: pim_hits(gt, lay, by_image.get(img_id, []), mode, layouts) for mode, by_image in mask_dets.items()}
        boxes = {"gt": [i.box for i in insts],
                 "detected": [None if m is None else _norm_box(m[1]["bbox"], w, h) for m in matched]}
        hits = {variant: attribute_hits(per_image, lay, boxes[variant], path)
                for variant, (path, per_image) in attr.items()}
        for k, inst in enumerate(insts):
            m = matched[k]
            rows.append({
                "format_version": INSTANCES_FORMAT_VERSION, "experiment": experiment, "layout_id": lay.id,
                "image_id": img_id, "instance": k, "ann_id": inst.ann_id, "category_id": inst.category_id,
                "category": inst.category, "phrase": inst.phrase, "box": [float(v) for v in inst.box],
                "detector": detector,
                "detection": None if m is None else {"index": m[0], "category_id": m[1]["category_id"],
                                                     "score": float(m[1]["score"]),
                                                     "bbox": [float(v) for v in m[1]["bbox"]]},
                "iou": None if m is None else m[2],
                "pim": {mode: v[k] for mode, v in pim.items()} or None,
                "attribute": {"word": inst.phrase.split(" ")[0], **{v: hits[v][k] for v in hits}} if hits else None,
            })
    return rows


def _norm_box(bbox, w, h):
    from instdiff.core.layout import coco_xywh_px_to_norm_xyxy

    return coco_xywh_px_to_norm_xyxy(bbox, w, h)


def instances_file(out: str | Path, *args, **kwargs) -> int:
    """Rule entry: write :func:`instance_records` to ``out`` as JSON lines (atomically); returns the count."""
    from instdiff.core.io import write_jsonl

    rows = instance_records(*args, **kwargs)
    write_jsonl(out, rows)
    log.info("%s: %d instance records", kwargs.get("experiment", ""), len(rows))
    return len(rows)
