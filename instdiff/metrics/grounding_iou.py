"""Grounding metrics: do the boxes a scorer finds in an image agree with the layout's boxes?

Inputs per image are two lists of labelled boxes in one frame (same units, corner form ``[x0, y0, x1, y1]``):
``gt`` (the layout's boxes: the ones the LLM intended, or the ones the generator was actually given) and ``pred``
(what a scorer found). Only boxes with equal labels (after :func:`normalize_label`) can be paired.

Matching (per image, per label):

* ``hungarian`` (default): a one-to-one assignment maximising the total IoU (``scipy.optimize.linear_sum_assignment``
  on the IoU matrix). An assigned pair counts as a *match* only if its IoU is > ``min_iou`` (default 0: boxes that
  do not overlap are not a detection of that instance).
* ``best-per-label``: the extension's rule (``cogvlm/iou.py``): for each (image, label) present on both sides, keep
  the single highest IoU over all gt x pred pairs, zero included. No one-to-one constraint: one prediction can
  serve several ground-truth boxes and vice versa.

Metrics over all images (``G`` = all gt boxes, ``P`` = all predicted boxes, ``M`` = matched pairs):

* ``mean_iou`` = mean IoU over ``M`` (for best-per-label: over the kept (image, label) entries, zeros included;
  this is the published number's definition).
* ``recall`` = |gt boxes in a match| / |G| (misses count against it).
* ``precision`` = |predicted boxes in a match| / |P|.
* ``success@0.5`` = fraction of ``G`` whose matched IoU is >= 0.5 (an unmatched gt box scores IoU 0).
* ``auc`` = the area under accuracy@IoU, acc(t) = fraction of ``G`` with matched IoU >= t, integrated over t in
  [0, 1]. With IoU 0 for misses this integral equals the mean over ``G`` of the matched IoU exactly, which is how it
  is computed (no threshold grid).

The ``legacy`` IoU (:func:`legacy_xywh_iou`) reproduces the extension's misreading of corner boxes as
``[x, y, w, h]``; it is used only by the legacy column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from instdiff.core.layout import box_iou, misread_corners_as_xywh

MATCHINGS = ("hungarian", "best-per-label")
LabeledBox = tuple[str, Sequence[float]]
IouFn = Callable[[Sequence[float], Sequence[float]], float]


def normalize_label(label: str) -> str:
    """Labels compare case-insensitively with surrounding whitespace ignored ("Person " == "person")."""
    return " ".join(str(label).lower().split())


def legacy_xywh_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """The extension's IoU: both boxes read as ``[x, y, w, h]`` (right edge x+w, area w*h), whatever they hold.

    Applied to corner boxes this is wrong (the extension's bug); kept only to recompute its published number.
    """
    ax, ay, aw, ah = map(float, a)
    bx, by, bw, bh = map(float, b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(gt: Sequence[Sequence[float]], pred: Sequence[Sequence[float]], iou: IouFn = box_iou) -> np.ndarray:
    """``len(gt) x len(pred)`` IoUs."""
    out = np.zeros((len(gt), len(pred)), dtype=float)
    for i, g in enumerate(gt):
        for j, p in enumerate(pred):
            out[i, j] = iou(g, p)
    return out


@dataclass
class Pair:
    """One kept (gt, pred) pair of an image; indices point into that image's gt / pred lists."""

    label: str
    gt_index: int
    pred_index: int
    iou: float


@dataclass
class ImageMatch:
    n_gt: int
    n_pred: int
    pairs: list[Pair] = field(default_factory=list)
    # Best IoU reached by each gt box through a kept pair (0.0 for misses); drives success@t and the AUC.
    gt_iou: list[float] = field(default_factory=list)


def _group(boxes: Sequence[LabeledBox]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, (label, _) in enumerate(boxes):
        groups.setdefault(normalize_label(label), []).append(i)
    return groups


def match_image(
    gt: Sequence[LabeledBox],
    pred: Sequence[LabeledBox],
    matching: str = "hungarian",
    iou: IouFn = box_iou,
    min_iou: float = 0.0,
) -> ImageMatch:
    """Pair the boxes of one image label by label (see the module docstring for both rules)."""
    if matching not in MATCHINGS:
        raise ValueError(f"matching must be one of {MATCHINGS}, got {matching!r}")
    result = ImageMatch(n_gt=len(gt), n_pred=len(pred), gt_iou=[0.0] * len(gt))
    gt_groups, pred_groups = _group(gt), _group(pred)
    for label, gi in gt_groups.items():
        pj = pred_groups.get(label)
        if not pj:
            continue
        m = iou_matrix([gt[i][1] for i in gi], [pred[j][1] for j in pj], iou)
        if matching == "hungarian":
            rows, cols = linear_sum_assignment(m, maximize=True)
            for r, c in zip(rows, cols):
                if m[r, c] > min_iou:
                    result.pairs.append(Pair(label, gi[r], pj[c], float(m[r, c])))
                    result.gt_iou[gi[r]] = float(m[r, c])
        else:
            # argmax in row-major order: ties go to the first gt, then the first prediction (the files' order).
            r, c = np.unravel_index(int(np.argmax(m)), m.shape)
            result.pairs.append(Pair(label, gi[r], pj[c], float(m[r, c])))
            result.gt_iou[gi[r]] = max(result.gt_iou[gi[r]], float(m[r, c]))
    return result


def summarize(matches: Iterable[ImageMatch], success_iou: float = 0.5) -> dict[str, float | int | None]:
    """Aggregate per-image matches into the metrics of the module docstring (numbers only)."""
    matches = list(matches)
    n_gt = sum(m.n_gt for m in matches)
    n_pred = sum(m.n_pred for m in matches)
    ious = [p.iou for m in matches for p in m.pairs]
    matched_pairs = [p for m in matches for p in m.pairs if p.iou > 0]
    gt_hit = sum(len({p.gt_index for p in m.pairs if p.iou > 0}) for m in matches)
    pred_hit = sum(len({p.pred_index for p in m.pairs if p.iou > 0}) for m in matches)
    gt_scores = [s for m in matches for s in m.gt_iou]
    return {
        "mean_iou": float(np.mean(ious)) if ious else None,
        "recall": gt_hit / n_gt if n_gt else None,
        "precision": pred_hit / n_pred if n_pred else None,
        f"success_at_{success_iou:g}": (
            float(np.mean([s >= success_iou for s in gt_scores])) if gt_scores else None
        ),
        "auc": float(np.mean(gt_scores)) if gt_scores else None,
        "n_images": len(matches),
        "n_gt": n_gt,
        "n_pred": n_pred,
        "n_pairs": len(ious),
        "n_matched": len(matched_pairs),
        "n_missed_gt": n_gt - gt_hit,
        "n_unmatched_pred": n_pred - pred_hit,
    }


def accuracy_at(matches: Iterable[ImageMatch], thresholds: Sequence[float]) -> list[float]:
    """acc(t) = fraction of gt boxes whose matched IoU is >= t (misses score 0), for each t."""
    scores = np.array([s for m in matches for s in m.gt_iou], dtype=float)
    if scores.size == 0:
        return [math.nan for _ in thresholds]
    return [float(np.mean(scores >= t)) for t in thresholds]


# --------------------------------------------------------------------------------------------- extension files


def legacy_given_box(box: Sequence[float], width: float = 512, height: float = 512) -> tuple[float, ...]:
    """The box InstanceDiffusion actually received for an LLM corner box: read as xywh, clipped to the canvas.

    ``[x1, y1, x2, y2]`` -> ``[x1, y1, min(W, x1 + x2), min(H, y1 + y2)]`` (``inference.py`` adds the second pair
    as width and height; the canvas cuts it).
    """
    x0, y0, x1, y1 = misread_corners_as_xywh(box)
    return (x0, y0, min(float(width), x1), min(float(height), y1))


def extension_rows_to_boxes(row: dict) -> list[LabeledBox]:
    """One line of the extension's JSON-lines box files -> labelled boxes (numbers as stored)."""
    return [(b["category_name"], tuple(float(v) for v in b["bbox"])) for b in row.get("bboxes", [])]


MODES = ("legacy", "intended", "given")


def read_extension_boxes(path) -> list[dict]:
    """Read one of the extension's JSON-lines box files (``{"description_id", "bboxes": [{bbox, category_name}]}``)."""
    from instdiff.core.errors import InputError
    from instdiff.core.io import read_jsonl
    from instdiff.core.records import is_number

    rows = read_jsonl(path, "box file", "pass the extension's JSON-lines box file (e.g. cogvlm_bboxes.json)")
    for k, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("bboxes"), list):
            raise InputError(path, f"line {k + 1} has no 'bboxes' list", "write one {description_id, bboxes} object per line", "bboxes")
        for j, b in enumerate(row["bboxes"]):
            box = b.get("bbox") if isinstance(b, dict) else None
            if (not isinstance(b, dict) or not isinstance(b.get("category_name"), str)
                    or not isinstance(box, list) or len(box) != 4 or not all(is_number(v) for v in box)):
                raise InputError(
                    path, f"line {k + 1}, box {j}: needs 'bbox' (4 finite numbers) and 'category_name' (text), got {b!r}"[:200],
                    "fix the box entry", f"line {k + 1}: bboxes[{j}]"
                )
            # The files hold corners [x1, y1, x2, y2] (the legacy mode misreads them as xywh, as the original did);
            # an inverted box has no area and would score IoU 0 without a word.
            if box[2] < box[0] or box[3] < box[1]:
                raise InputError(
                    path, f"line {k + 1}, box {j}: corners {box} are inverted (x2 < x1 or y2 < y1)",
                    "write boxes as [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2", f"line {k + 1}: bboxes[{j}].bbox"
                )
    return rows


def score_extension_files(
    pred_path,
    gt_path,
    mode: str = "intended",
    matching: str | None = None,
    width: float = 512,
    height: float = 512,
) -> dict:
    """Score the extension's box files the way ``instdiff grounding-iou`` reports them.

    Lines are paired by position, as ``cogvlm/iou.py`` does (CogVLM line k = image 3k = description k+1); both files
    must have the same number of lines. Modes:

    * ``legacy``: both sides read as ``[x, y, w, h]`` (:func:`legacy_xywh_iou`), best-per-label by default: the
      published computation (0.4166 on the shipped files, reported as 0.42).
    * ``intended``: corner IoU against the boxes the LLM wrote (the gt file as corners).
    * ``given``: corner IoU against the boxes the generator actually received (:func:`legacy_given_box`).
    """
    from instdiff.core.errors import InputError

    if mode not in MODES:
        raise InputError(None, f"unknown mode {mode!r}", f"use one of {', '.join(MODES)}", "mode")
    matching = matching or ("best-per-label" if mode == "legacy" else "hungarian")
    if matching not in MATCHINGS:
        raise InputError(None, f"unknown matching {matching!r}", f"use one of {', '.join(MATCHINGS)}", "matching")
    pred_rows, gt_rows = read_extension_boxes(pred_path), read_extension_boxes(gt_path)
    if len(pred_rows) != len(gt_rows):
        raise InputError(
            pred_path,
            f"{len(pred_rows)} lines against {len(gt_rows)} in {gt_path}",
            "lines are paired by position: give both files one line per image, in the same order",
        )
    iou = legacy_xywh_iou if mode == "legacy" else box_iou
    matches = []
    for pred_row, gt_row in zip(pred_rows, gt_rows):
        gt = extension_rows_to_boxes(gt_row)
        if mode == "given":
            gt = [(label, legacy_given_box(box, width, height)) for label, box in gt]
        matches.append(match_image(gt, extension_rows_to_boxes(pred_row), matching, iou))
    values = summarize(matches)
    return {"mode": mode, "matching": matching, "pairing": "line", "pred": str(pred_path), "gt": str(gt_path), **values}


# --------------------------------------------------------------------------------------------- pipeline files

REFERENCES = ("intended", "given")


def layout_boxes(layout, reference: str) -> list[LabeledBox]:
    """A layout's boxes with their matching labels: ``intended`` (what the LLM meant) or ``given`` (what the generator
    received, clipped to the canvas). Labels are the instances' categories through ``to_category``."""
    from instdiff.llm.scorers.labels import to_category
    from instdiff.llm.stage import given_boxes, intended_boxes

    boxes = intended_boxes(layout) if reference == "intended" else given_boxes(layout)
    return [(to_category(inst.category or inst.phrase), box) for inst, box in zip(layout.instances, boxes)]


def score_detections(layouts, rows: list[dict], matching: str = "hungarian") -> dict:
    """Grounding metrics of one scorer on one image set, against both references.

    ``rows`` are :func:`instdiff.llm.scorers.run.score_images` rows (same ids as ``layouts``). Returns
    ``{"intended": summary, "given": summary, "per_image": [...]}``.
    """
    from instdiff.core.errors import InputError
    from instdiff.llm.scorers.labels import to_category

    by_id = {row["id"]: row for row in rows}
    missing = [lay.id for lay in layouts if lay.id not in by_id]
    if missing:
        raise InputError(None, f"no detections for {len(missing)} layouts (first {missing[:3]})", "rerun the grounding rule")
    out: dict = {"per_image": []}
    matches: dict[str, list[ImageMatch]] = {ref: [] for ref in REFERENCES}
    for lay in layouts:
        pred = [(to_category(d["label"]), tuple(d["box"])) for d in by_id[lay.id]["detections"]]
        entry: dict = {"id": lay.id, "n_pred": len(pred)}
        for ref in REFERENCES:
            m = match_image(layout_boxes(lay, ref), pred, matching)
            matches[ref].append(m)
            entry[ref] = {"n_matched": sum(p.iou > 0 for p in m.pairs), "gt_iou": m.gt_iou}
        out["per_image"].append(entry)
    for ref in REFERENCES:
        out[ref] = summarize(matches[ref])
    return out
