"""A small synthetic COCO-format dataset for the smoke run, in the same folder layout as the unzipped official files.

``{out}/annotations/instances_val2017.json``, ``{out}/annotations/captions_val2017.json`` and ``{out}/val2017/*.jpg``
(512x512). Each instance is a coloured shape (rectangle, ellipse or triangle, as a COCO polygon) painted over the
pixels of its own instance mask in the colour and texture that ``ann_id % 8`` assigns (the attribute lists of
``instdiff.coco``), so the colours / textures experiments ask for what the real image shows. Categories are the real
80 COCO categories with their ids (``instdiff/assets/coco_categories.json``).

The cases the pipeline must handle are always present: an image with more than 30 annotations, one with exactly one,
one with none, and one with a crowd annotation (uncompressed RLE, ``iscrowd = 1``). Images are listed in the file in
shuffled order and annotations interleaved across images, as in the official file, so id sorting is exercised.
Everything is a deterministic function of ``seed``.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from instdiff.coco import COLORS, TEXTURES
from instdiff.io import atomic_path, write_json

log = logging.getLogger(__name__)

SIZE = 512
N_MANY = 34  # annotations on the "more than 30" image
RGB = {  # the colour names of instdiff.coco.COLORS as sRGB
    "black": (20, 20, 20), "white": (235, 235, 235), "red": (215, 35, 35), "green": (40, 165, 60),
    "yellow": (240, 215, 40), "blue": (40, 70, 215), "pink": (250, 170, 195), "purple": (125, 40, 150),
}


def coco_categories() -> list[dict]:
    """The 80 COCO categories with their official (91-space) ids, names and supercategories."""
    text = resources.files("instdiff").joinpath("assets/coco_categories.json").read_text()
    return json.loads(text)


# --------------------------------------------------------------------------------------------- shapes


def _polygon(kind: str, cx: float, cy: float, rx: float, ry: float) -> list[float]:
    if kind == "rectangle":
        pts = [(cx - rx, cy - ry), (cx + rx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
    elif kind == "triangle":
        pts = [(cx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
    else:  # ellipse as a 24-gon
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))
    return [round(float(min(max(v, 0.0), SIZE - 1.0)), 2) for p in pts for v in p]


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO crowd format: run lengths of the column-major mask, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return {"size": [SIZE, SIZE], "counts": [int(r) for r in runs]}


def _texture(idx: int, rgb: tuple, shape: tuple, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A (H, W, 3) float image of colour ``rgb`` in texture ``TEXTURES[idx]`` (simple, recognisable patterns)."""
    h, w = shape
    base = np.broadcast_to(np.asarray(rgb, dtype=np.float32), (h, w, 3)).copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    name = TEXTURES[idx]
    if name == "rubber":  # matte, slightly dark, fine grain
        out = base * 0.85 + rng.normal(0, 6, (h, w, 1))
    elif name == "fluffy":  # strong soft noise
        out = base + rng.normal(0, 30, (h, w, 1))
    elif name == "metallic":  # vertical brightness gradient
        out = base * (0.6 + 0.7 * (yy / h))[..., None]
    elif name == "wooden":  # horizontal grain stripes
        out = base * (0.75 + 0.25 * np.sin(yy / 3.0))[..., None]
    elif name == "plastic":  # flat with a specular highlight
        spot = np.exp(-(((xx - w * 0.3) ** 2 + (yy - h * 0.3) ** 2) / (2 * (12.0**2))))
        out = base + (255 - base) * spot[..., None]
    elif name == "fabric":  # woven checker
        out = base * np.where(((xx // 4) + (yy // 4)) % 2 == 0, 1.0, 0.7)[..., None]
    elif name == "leather":  # pores
        out = base * np.where((xx % 7 < 2) & (yy % 7 < 2), 0.6, 1.0)[..., None]
    else:  # glass: half transparent over the background
        out = 0.5 * base + 0.5 * background
    return np.clip(out, 0, 255)


# --------------------------------------------------------------------------------------------- dataset


def _plan(rng: np.random.Generator, n_images: int) -> list[dict]:
    """Per image: number of annotations and whether it holds the crowd region."""
    counts = [N_MANY, 1, 0, 3] + [int(rng.integers(2, 7)) for _ in range(n_images - 4)]
    return [{"n": n, "crowd": i == 3} for i, n in enumerate(counts)]


def _shape_params(rng: np.random.Generator, j: int, n: int) -> tuple[float, float, float, float]:
    if n > 30:  # a 6x6 grid of small shapes so every instance stays visible
        cell = SIZE / 6
        r, c = divmod(j, 6)
        return (c + 0.5) * cell, (r + 0.5) * cell, float(rng.uniform(15, 35)), float(rng.uniform(15, 35))
    return (float(rng.uniform(90, 420)), float(rng.uniform(90, 420)), float(rng.uniform(30, 90)),
            float(rng.uniform(30, 90)))


def _caption(phrases: list[str]) -> list[str]:
    if not phrases:
        return ["An empty grey canvas.", "Nothing but a plain grey background."]
    listed = ", ".join(phrases[:-1]) + (" and " if len(phrases) > 1 else "") + phrases[-1]
    return [f"A synthetic picture of {listed}.", f"{len(phrases)} simple shapes on a grey background."]


def write_synthetic_coco(out_dir: str | Path, seed: int = 0, n_images: int = 12) -> dict:
    """Write the dataset under ``out_dir``; returns a summary (ids and counts). Deterministic in ``seed``."""
    if n_images < 4:
        raise ValueError("the synthetic dataset needs at least 4 images (many / one / none / crowd)")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    cats = coco_categories()
    image_ids = sorted(int(v) for v in rng.choice(np.arange(1, 600_000), n_images, replace=False))
    plans = _plan(rng, n_images)
    n_total = sum(p["n"] for p in plans)
    ann_ids = [int(v) for v in rng.choice(np.arange(1, 1_000_000), n_total, replace=False)]
    cap_ids = [int(v) for v in rng.choice(np.arange(1, 1_000_000), 2 * n_images, replace=False)]
    images, anns, caps = [], [], []
    next_ann = 0
    for i, (img_id, plan) in enumerate(zip(image_ids, plans)):
        file_name = f"{img_id:012d}.jpg"
        images.append({"id": img_id, "file_name": file_name, "width": SIZE, "height": SIZE,
                       "license": 0, "coco_url": "", "flickr_url": "", "date_captured": ""})
        gy = np.linspace(110, 150, SIZE, dtype=np.float32)
        canvas = np.repeat(gy[:, None, None], SIZE, axis=1).repeat(3, axis=2) + rng.normal(0, 3, (SIZE, SIZE, 1))
        phrases = []
        for j in range(plan["n"]):
            ann_id = ann_ids[next_ann]
            next_ann += 1
            cat = cats[int(rng.integers(0, len(cats)))]
            if plan["crowd"] and j == 0:  # a crowd region: several blobs in one uncompressed RLE
                mask = np.zeros((SIZE, SIZE), np.uint8)
                for k in range(4):
                    x0, y0 = 40 + 45 * k, 330 + 20 * (k % 2)
                    mask[y0:y0 + 60, x0:x0 + 35] = 1
                segmentation, iscrowd = _uncompressed_rle(mask), 1
                rle = mask_utils.frPyObjects(segmentation, SIZE, SIZE)
            else:
                kind = ("rectangle", "ellipse", "triangle")[int(rng.integers(0, 3))]
                poly = _polygon(kind, *_shape_params(rng, j, plan["n"]))
                segmentation, iscrowd = [poly], 0
                rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, SIZE, SIZE))
                mask = mask_utils.decode(rle)
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            colour, texture = COLORS[ann_id % 8], ann_id % 8
            paint = _texture(texture, RGB[colour], (SIZE, SIZE), rng, canvas)
            canvas = np.where(mask[..., None] == 1, paint, canvas)
            phrases.append(f"{colour} {cat['name']}")
            anns.append({"id": ann_id, "image_id": img_id, "category_id": cat["id"], "segmentation": segmentation,
                         "area": float(mask_utils.area(rle)), "bbox": bbox, "iscrowd": iscrowd})
        for k, text in enumerate(_caption(phrases)):
            caps.append({"image_id": img_id, "id": cap_ids[2 * i + k], "caption": text})
        path = out_dir / "val2017" / file_name
        with atomic_path(path) as tmp:
            Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(tmp, format="JPEG", quality=95)
    # file order like the official file: images shuffled, annotations interleaved across images
    order = rng.permutation(len(images))
    images = [images[k] for k in order]
    anns = [anns[k] for k in rng.permutation(len(anns))]
    caps = [caps[k] for k in rng.permutation(len(caps))]
    info = {"description": f"instdiff synthetic COCO-style smoke dataset (seed {seed})", "version": "1.0"}
    write_json(out_dir / "annotations" / "instances_val2017.json",
               {"info": info, "licenses": [], "images": images, "annotations": anns, "categories": cats}, indent=None)
    write_json(out_dir / "annotations" / "captions_val2017.json",
               {"info": info, "licenses": [], "images": images, "annotations": caps}, indent=None)
    log.info("synthetic COCO: %d images, %d annotations in %s", len(images), len(anns), out_dir)
    return {"n_images": len(images), "n_annotations": len(anns), "image_ids": image_ids, "seed": seed}
