"""PiM: does the generated instance sit where the point (or scribble) asked for it?

Definition (Wang et al., CVPR 2024; ``eval/eval_pim.py``). For every image, the ground-truth instance masks
G_1..G_n are matched to the predicted masks P_1..P_m of a segmentation detector, greedily and class-agnostic:
for each G_i in order, take the still unmatched P_j of highest mask IoU (ties go to the earlier prediction;
an IoU of 0/0 = NaN, i.e. an empty prediction against an empty GT, is never chosen) and keep the pair when
IoU >= 0, so there are min(n, m) pairs. Each pair gets a score s:

- ``point``: 1 if P_j contains the centre of G_i's pixel bounding box, c = (int((x_min+x_max)/2),
  int((y_min+y_max)/2)), tested at row c_y, column c_x; else 0. Pairs with an empty G_i are skipped.
- ``scribble``: the fraction of K = 20 test points inside P_j.

PiM = (1/|I'|) sum_{i in I'} mean_{pairs of image i} s, where I' holds the images with at least one scored pair.

Two variants of the test points:

- ``paper``: exactly the original. Images in the annotation file's order; the scribble points are 20 pixels of
  G_i drawn afresh with ``numpy.random.choice(n_pixels, 20, replace=n_pixels < 20)`` on numpy's legacy global
  RNG over the row-major foreground pixels (a pair whose 20 points all sit at pixel (0, 0) is skipped, as the
  original's coordinate-sum test does). With ``seed`` the global RNG is seeded once before the first image, so
  the draws happen in the original's order and its numbers are reproduced exactly.
- ``corrected``: a PiM that noise cannot max out. The test points are the exact points the generator was
  conditioned on (the layout's point or 20-point scribble of each instance), images in sorted layout order, and
  only the conditioned instances are scored. Each instance is matched, greedily in layout order and one detection
  per instance, to a detection that

  * has the instance's category (the paper matches class-agnostically, so any of 300 masks will do);
  * has confidence >= ``CORRECTED_CONF`` = 0.3 (the paper scores the validator's conf-0.001 detections, where a
    noise image still gets hundreds of masks). 0.3 is the attribute metric's detected-box floor
    (``attribute.DETECTION_CONF``, GenEval's): both corrected instance metrics then call the same detections
    "drawn", so their unmatched counts agree. ultralytics' predict default 0.25 is a display setting with no
    evaluation behind it;
  * overlaps the instance's reference mask at mask IoU >= ``CORRECTED_MIN_IOU`` = 0.5 (COCO's loosest match and
    the attribute metric's): a detection is taken to *be* the instance only when it is recognisably that object,
    so one mask over the whole image cannot stand in for every instance. For point-only conditioning this also
    asks for the reference's extent, so corrected PiM is a lower bound on point placement; the unmatched count
    says how much of it is matching.

  An instance without a match scores 0 and is counted (``n_unmatched_gt``); the paper drops it silently. PiM is
  the mean over images of the per-image mean over scored instances (every image with a scorable instance counts).
  A point outside the canvas is a miss (the extension counted it as a hit); instances with an empty GT mask have
  no reference to match and are skipped and counted. The counts of images, pairs, skipped and unmatched instances
  are reported, and each image's ``instance_scores`` (one per conditioned instance, None when skipped).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from instdiff.core.errors import InputError
from instdiff.core import rle as rle_utils
from instdiff.metrics.cocofiles import image_order, results_by_image, to_rle
from instdiff.core.original_constants import N_SCRIBBLE_POINTS

log = logging.getLogger(__name__)

MODES = ("point", "scribble")
VARIANTS = ("paper", "corrected")
CORRECTED_CONF = 0.3  # = attribute.DETECTION_CONF (see the module docstring for the choice)
CORRECTED_MIN_IOU = 0.5


# --------------------------------------------------------------------------------------------- matching


def mask_iou_matrix(gt_rles: Sequence[dict], pred_rles: Sequence[dict]) -> np.ndarray:
    """(n_gt, n_pred) mask IoU; NaN where both masks are empty (0/0, as numpy gives in the original)."""
    from pycocotools import mask as mask_utils

    if not gt_rles or not pred_rles:
        return np.zeros((len(gt_rles), len(pred_rles)))
    iou = np.asarray(mask_utils.iou(list(gt_rles), list(pred_rles), [0] * len(pred_rles)), dtype=np.float64)
    iou = iou.reshape(len(gt_rles), len(pred_rles))
    gt_empty = rle_areas(gt_rles) == 0
    pred_empty = rle_areas(pred_rles) == 0
    iou[np.outer(gt_empty, pred_empty)] = np.nan
    return iou


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel counts of RLEs. pycocotools 2.0.11's ``area`` overflows on lists of 256 or more (a uint8 length
    under numpy 2), so it is called on chunks of 255."""
    from pycocotools import mask as mask_utils

    rles = list(rles)
    return np.concatenate([np.asarray(mask_utils.area(rles[i:i + 255])) for i in range(0, len(rles), 255)] or [np.zeros(0)])


def greedy_match(iou: np.ndarray, iou_threshold: float = 0.0) -> list[tuple[int, int]]:
    """eval_pim.py's ``match_masks``: for each GT row in order, the unmatched column of highest IoU.

    A candidate must beat the running best, which starts at -1, strictly: so ties go to the earlier column
    and NaN never wins. The pair is kept when its IoU >= ``iou_threshold``.
    """
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    # NaN and already matched columns become -inf: they can never beat the initial -1.
    work = np.where(np.isnan(iou), -np.inf, iou)
    for g in range(work.shape[0]):
        row = work[g]
        p = int(np.argmax(row))  # first maximum = earliest prediction on ties
        if not row[p] > -1:
            continue
        if row[p] >= iou_threshold:
            pairs.append((g, p))
            work[:, p] = -np.inf
    return pairs


# --------------------------------------------------------------------------------------------- point tests


def gt_box_centre(rle: dict) -> tuple[int, int] | None:
    """(c_x, c_y) of the GT mask's pixel bounding box, as ``mask_2_box_point``; None for an empty mask."""
    from pycocotools import mask as mask_utils

    if mask_utils.area(rle) == 0:
        return None
    x, y, w, h = mask_utils.toBbox(rle)
    x_min, y_min = int(x), int(y)
    x_max, y_max = int(x + w) - 1, int(y + h) - 1
    return int((x_min + x_max) / 2), int((y_min + y_max) / 2)


def sample_gt_points(rle: dict, k: int = N_SCRIBBLE_POINTS) -> tuple[np.ndarray, np.ndarray] | None:
    """``sample_random_points_from_mask``: k foreground pixels (rows, cols) from numpy's legacy global RNG.

    The candidates are the mask's foreground pixels in row-major order (as ``np.nonzero``), read from the RLE
    without decoding the mask. Draws nothing for an empty mask (returns None). The original sorts the points
    by distance to the origin; the score is a mean over them, so the order is irrelevant and not reproduced.
    """
    flat = rle_utils.foreground_rowmajor(rle)
    n = flat.size
    if n == 0:
        return None
    idx = np.random.choice(n, k, replace=n < k)
    picked = flat[idx]
    width = int(rle["size"][1])
    return picked // width, picked % width


def inside_fraction(pred: dict, rows: np.ndarray, cols: np.ndarray) -> float:
    """Fraction of (row, col) points where the predicted mask (an RLE) is 1; points off the canvas are misses."""
    h, w = (int(v) for v in pred["size"])
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    hits = np.zeros(rows.shape, dtype=np.int64)
    hits[ok] = rle_utils.contains(pred, rows[ok], cols[ok])
    return float(np.mean(hits.tolist()))  # np.mean of a list of ints, as the original


def norm_points_to_pixels(points: Sequence[Sequence[float]], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (x, y) -> (rows, cols) of the pixel containing each point; x = 1.0 is the last column.

    Points outside [0, 1] map outside the canvas (and count as misses in :func:`inside_fraction`).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    cols = np.floor(pts[:, 0] * width).astype(np.int64)
    rows = np.floor(pts[:, 1] * height).astype(np.int64)
    cols[pts[:, 0] == 1.0] = width - 1
    rows[pts[:, 1] == 1.0] = height - 1
    return rows, cols


# --------------------------------------------------------------------------------------------- per image


@dataclass
class ImageScore:
    image_id: Any
    matched_pairs: list[tuple[int, int]]
    scores: list[float]
    skipped: int = 0  # pairs not scored (empty GT mask, all points at the origin)
    unmatched: int = 0  # GT instances left without a prediction
    n_instances: int = 0  # GT instances of the image (paper) / conditioned instances (corrected)
    out_of_canvas: int = 0  # corrected variant: test points outside the canvas
    instance_scores: list | None = None  # corrected variant: one per conditioned instance (None: skipped)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.scores)) if self.scores else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "matched_pairs": [list(p) for p in self.matched_pairs],
            "scores": self.scores,
            "pim": self.mean,
            "skipped": self.skipped,
            "unmatched": self.unmatched,
            "n_instances": self.n_instances,
            "out_of_canvas": self.out_of_canvas,
            "instance_scores": self.instance_scores,
        }


def _pred_rles(dets: list[dict], h: int, w: int, path) -> list[dict]:
    return [to_rle(d["segmentation"], h, w, f"image {d['image_id']} segmentation", path) for d in dets]


def score_image_paper(gt_rles: list[dict], pred_rles: list[dict], mode: str, image_id: Any) -> ImageScore:
    """One image of the ``paper`` variant (draws from numpy's global RNG in scribble mode)."""
    pairs = greedy_match(mask_iou_matrix(gt_rles, pred_rles))
    result = ImageScore(image_id, pairs, [], unmatched=len(gt_rles) - len(pairs), n_instances=len(gt_rles))
    if not pairs:
        return result
    if mode == "point":
        for g, p in pairs:
            c = gt_box_centre(gt_rles[g])
            if c is None:
                result.skipped += 1
                continue
            result.scores.append(1 if rle_utils.contains(pred_rles[p], [c[1]], [c[0]])[0] else 0)
    else:
        for g, p in pairs:
            drawn = sample_gt_points(gt_rles[g])
            # The original skips when the sampled coordinates sum to 0: an empty mask (no draw) or 20 x (0, 0).
            if drawn is None or int(drawn[0].sum() + drawn[1].sum()) == 0:
                result.skipped += 1
                continue
            result.scores.append(inside_fraction(pred_rles[p], *drawn))
    return result


def eligible_iou(iou: np.ndarray, gt_categories: Sequence | None, pred_categories: Sequence | None,
                 pred_scores: Sequence | None, conf_floor: float) -> np.ndarray:
    """``iou`` with NaN where a pair may not match in the corrected variant: another category, or a detection
    below ``conf_floor``. (NaN is never chosen by :func:`greedy_match`; the detection indices are unchanged.)"""
    iou = np.array(iou, dtype=np.float64, copy=True)
    if iou.size == 0:
        return iou
    if pred_scores is not None:
        iou[:, np.asarray(pred_scores, dtype=np.float64) < conf_floor] = np.nan
    if gt_categories is not None and pred_categories is not None:
        iou[np.asarray(gt_categories)[:, None] != np.asarray(pred_categories)[None, :]] = np.nan
    return iou


def score_image_corrected(gt_rles: list[dict], pred_rles: list[dict], test_points: list, mode: str,
                          image_id: Any, width: int, height: int, *, gt_categories: Sequence | None = None,
                          pred_categories: Sequence | None = None, pred_scores: Sequence | None = None,
                          conf_floor: float = CORRECTED_CONF, min_iou: float = CORRECTED_MIN_IOU) -> ImageScore:
    """One image of the ``corrected`` variant: ``test_points[i]`` are instance i's normalised points.

    The category and confidence rules apply when ``gt_categories`` / ``pred_categories`` / ``pred_scores`` are
    given (:func:`pim_corrected` always gives them); ``min_iou`` always applies. Every conditioned instance with a
    non-empty reference mask is scored: 0 when unmatched."""
    from pycocotools import mask as mask_utils

    iou = eligible_iou(mask_iou_matrix(gt_rles, pred_rles), gt_categories, pred_categories, pred_scores, conf_floor)
    pairs = greedy_match(iou, iou_threshold=min_iou)
    match = dict(pairs)
    result = ImageScore(image_id, pairs, [], instance_scores=[], n_instances=len(test_points))
    for g, points in enumerate(test_points):
        if mask_utils.area(gt_rles[g]) == 0 or not points:
            result.skipped += 1  # nothing was drawn for an empty mask: no shape to test
            result.instance_scores.append(None)
            continue
        rows, cols = norm_points_to_pixels(points, width, height)
        result.out_of_canvas += int(np.sum((rows < 0) | (rows >= height) | (cols < 0) | (cols >= width)))
        if g in match:
            score = inside_fraction(pred_rles[match[g]], rows, cols)
        else:
            result.unmatched += 1
            score = 0.0  # not drawn (as a confident detection of its class): nothing sits at its points
        result.scores.append(score)
        result.instance_scores.append(score)
    return result


# --------------------------------------------------------------------------------------------- datasets


def aggregate(per_image: list[ImageScore]) -> dict[str, Any]:
    """Mean over images of the per-image mean; images without a scored pair (or with NaN) are left out.
    ``n_unmatched_gt`` of ``n_instances`` found no detection (the paper drops them, the corrected variant scores
    them 0)."""
    means = [im.mean for im in per_image if im.mean is not None]
    means = [m for m in means if not math.isnan(m)]
    return {
        "pim": float(np.mean(means)) if means else float("nan"),
        "n_images": len(means),
        "n_pairs": sum(len(im.matched_pairs) for im in per_image),
        "n_scored": sum(len(im.scores) for im in per_image),
        "n_skipped": sum(im.skipped for im in per_image),
        "n_unmatched_gt": sum(im.unmatched for im in per_image),
        "n_instances": sum(im.n_instances for im in per_image),
        "n_out_of_canvas": sum(im.out_of_canvas for im in per_image),
        "n_images_total": len(per_image),
    }


def pim_paper(gt, results: list[dict], mode: str, seed: int | None = None, image_ids: Sequence | None = None,
              results_path: str | Path | None = None) -> dict[str, Any]:
    """PiM exactly as ``eval_pim.py`` (see module docstring). ``image_ids`` restricts the images (kept in the
    annotation file's order); ``seed`` seeds numpy's legacy global RNG once, before the first draw."""
    _check_mode(mode)
    keep = None if image_ids is None else set(image_ids)
    order = [i for i in image_order(gt) if keep is None or i in keep]
    by_image = results_by_image(results)
    if seed is not None:
        np.random.seed(seed)
    per_image = []
    for img_id in tqdm(order, desc=f"PiM {mode} (paper)", disable=len(order) < 100):
        info = gt.imgs[img_id]
        h, w = int(info["height"]), int(info["width"])
        gt_rles = [gt.annToRLE(a) for a in gt.imgToAnns.get(img_id, [])]
        pred_rles = _pred_rles(by_image.get(img_id, []), h, w, results_path)
        per_image.append(score_image_paper(gt_rles, pred_rles, mode, img_id))
    out = aggregate(per_image)
    out["per_image"] = [im.to_dict() for im in per_image]
    return out


def pim_corrected(gt, results: list[dict], layouts: list, mode: str, image_ids: Sequence | None = None,
                  results_path: str | Path | None = None, layouts_path: str | Path | None = None,
                  conf_floor: float = CORRECTED_CONF, min_iou: float = CORRECTED_MIN_IOU) -> dict[str, Any]:
    """PiM on the exact conditioning points of ``layouts`` (``instdiff.core.layout.Layout``), matching same-class
    detections of confidence >= ``conf_floor`` at mask IoU >= ``min_iou``; see the module docstring."""
    _check_mode(mode)
    keep = None if image_ids is None else {str(i) for i in image_ids}
    by_image = results_by_image(results)
    per_image = []
    chosen = [lay for lay in layouts if keep is None or str(_layout_image_id(lay)) in keep]
    for lay in tqdm(sorted(chosen, key=lambda l: _sort_key(_layout_image_id(l))), desc=f"PiM {mode} (corrected)",
                    disable=len(chosen) < 100):
        img_id, h, w, gt_rles, test_points, categories = layout_targets(gt, lay, mode, layouts_path)
        dets = by_image.get(img_id, [])
        pred_rles = _pred_rles(dets, h, w, results_path)
        per_image.append(score_image_corrected(
            gt_rles, pred_rles, test_points, mode, img_id, w, h, gt_categories=categories,
            pred_categories=[d["category_id"] for d in dets], pred_scores=[d["score"] for d in dets],
            conf_floor=conf_floor, min_iou=min_iou))
    out = aggregate(per_image)
    out["per_image"] = [im.to_dict() for im in per_image]
    return out


def layout_targets(gt, lay, mode: str, path) -> tuple[Any, int, int, list, list, list]:
    """What the corrected PiM scores in one layout's image: ``(image id, height, width, GT masks as RLEs, each
    instance's test points, GT categories)``, instances in layout order (also the per-instance records,
    instdiff.metrics.instances)."""
    img_id = _layout_image_id(lay)
    if img_id not in gt.imgs:
        raise InputError(path, f"layout {lay.id} refers to image {img_id!r}, not in the annotation file",
                         "build layouts and annotations from the same data", "image_id")
    info = gt.imgs[img_id]
    gt_rles, test_points, categories = [], [], []
    for i, inst in enumerate(lay.instances):
        if inst.ann_id is None or inst.ann_id not in gt.anns:
            raise InputError(path, f"layout {lay.id} instance {i} has no annotation id of the GT file",
                             "build layouts with the data stage (it records ann_id)", f"instances[{i}].ann_id")
        gt_rles.append(gt.annToRLE(gt.anns[inst.ann_id]))
        categories.append(gt.anns[inst.ann_id]["category_id"])
        test_points.append(_instance_points(inst, mode, lay.id, i, path))
    return img_id, int(info["height"]), int(info["width"]), gt_rles, test_points, categories


def _instance_points(inst, mode: str, layout_id: str, i: int, path) -> list:
    if mode == "point":
        if inst.point is None:
            raise InputError(path, f"layout {layout_id} instance {i} has no point", "build point layouts", f"instances[{i}].point")
        return [inst.point]
    if inst.scribble is None:
        raise InputError(path, f"layout {layout_id} instance {i} has no scribble", "build scribble layouts",
                         f"instances[{i}].scribble")
    return list(inst.scribble)


def _layout_image_id(lay) -> Any:
    from instdiff.metrics.cocofiles import as_image_id

    return lay.image_id if lay.image_id is not None else as_image_id(lay.id)


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, int) else (1, 0, str(v))


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InputError(None, f"unknown PiM mode {mode!r}", f"use one of {MODES}", "mode")
