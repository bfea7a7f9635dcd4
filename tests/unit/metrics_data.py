"""Small hand-made COCO files for the metric tests (masks as numpy arrays, written as RLE)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils


def rle(mask: np.ndarray) -> dict:
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")}


def box_of(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def square(h: int, w: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Rows r0..r1-1, cols c0..c1-1 set."""
    m = np.zeros((h, w), np.uint8)
    m[r0:r1, c0:c1] = 1
    return m


def gt_file(path: Path, images: dict, size=(8, 8)) -> Path:
    """``images``: {image_id: [mask, ...]} -> a COCO instances file (category 1 'person'); ann ids 1, 2, ..."""
    h, w = size
    data = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]}
    ann_id = 1
    for img_id, masks in images.items():
        data["images"].append({"id": img_id, "width": w, "height": h, "file_name": f"{img_id}.png"})
        for m in masks:
            data["annotations"].append({"id": ann_id, "image_id": img_id, "category_id": 1, "segmentation": rle(m),
                                        "bbox": box_of(m), "area": float(m.sum()), "iscrowd": 0})
            ann_id += 1
    path.write_text(json.dumps(data))
    return path


def dets(image_id, masks, scores=None, category_id=1) -> list[dict]:
    scores = scores or [0.9 - 0.01 * i for i in range(len(masks))]
    return [{"image_id": image_id, "category_id": category_id, "bbox": box_of(m), "score": s, "segmentation": rle(m)}
            for m, s in zip(masks, scores)]
