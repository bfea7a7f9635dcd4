"""A small synthetic COCO-format dataset for the smoke run, in the same folder layout as the unzipped official files.

``{out}/annotations/instances_{split}.json``, ``{out}/annotations/captions_{split}.json`` and ``{out}/{split}/*.jpg``
(``split`` = ``val2017`` for the smoke run, ``train2017`` for the tiny detector's training set). Images have
COCO-like sizes (640x480, 427x640, ...), so squashing to 512x512 and scoring at full resolution differ.
Categories are the real 80 COCO categories with their ids (``instdiff/assets/coco_categories.json``), of which
the images use the eight of :data:`CLASSES`: each is bound to one shape and to one colour / texture index, so a
detector can learn them (``instdiff.detection.yolo_train``). An instance's colour and texture are ``COLORS[ann_id % 8]``
and ``TEXTURES[ann_id % 8]`` (the attribute lists of ``instdiff.core.original_constants``), as the colours / textures experiments
ask for them: annotation ids are drawn with the residue of their category, so what the layout asks for is what
the image shows. Shapes are COCO polygons painted over the pixels of their own mask and do not overlap.

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

from instdiff.core.io import atomic_path, write_json
from instdiff.core.original_constants import COLORS, TEXTURES

log = logging.getLogger(__name__)

# (width, height) of COCO val2017's commonest image sizes, landscape and portrait.
SIZES = ((640, 480), (640, 427), (480, 640), (427, 640), (500, 375), (640, 640))
N_MANY = 34  # annotations on the "more than 30" image
RGB = {  # the colour names of instdiff.core.original_constants.COLORS as sRGB
    "black": (20, 20, 20), "white": (235, 235, 235), "red": (215, 35, 35), "green": (40, 165, 60),
    "yellow": (240, 215, 40), "blue": (40, 70, 215), "pink": (250, 170, 195), "purple": (125, 40, 150),
}
# The categories the images use: name -> shape; the k-th is painted in COLORS[k] / TEXTURES[k].
CLASSES = {"person": "rectangle", "car": "ellipse", "bird": "triangle", "dog": "diamond", "bottle": "star",
           "chair": "cross", "cake": "hexagon", "clock": "trapezoid"}
MAX_TRIES = 60  # placement attempts before a shape may overlap others


def coco_categories() -> list[dict]:
    """The 80 COCO categories with their official (91-space) ids, names and supercategories."""
    text = resources.files("instdiff").joinpath("assets/coco_categories.json").read_text()
    return json.loads(text)


# --------------------------------------------------------------------------------------------- shapes


def _unit_outline(kind: str) -> list[tuple[float, float]]:
    """The shape's outline in [-1, 1]^2 (x right, y down); every outline contains its box centre (0, 0)."""
    if kind == "rectangle":
        return [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    if kind == "triangle":
        return [(0, -1), (1, 1), (-1, 1)]
    if kind == "diamond":
        return [(0, -1), (1, 0), (0, 1), (-1, 0)]
    if kind == "cross":
        t = 0.38
        return [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t), (t, 1), (-t, 1), (-t, t), (-1, t), (-1, -t),
                (-t, -t)]
    if kind == "trapezoid":
        return [(-0.5, -1), (0.5, -1), (1, 1), (-1, 1)]
    if kind == "star":  # five points, inner radius 0.45
        t = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return list(zip(r * np.cos(t), r * np.sin(t)))
    n = 6 if kind == "hexagon" else 24  # an ellipse is a 24-gon
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return list(zip(np.cos(t), np.sin(t)))


def _polygon(kind: str, cx: float, cy: float, rx: float, ry: float, width: int, height: int) -> list[float]:
    pts = [(cx + rx * u, cy + ry * v) for u, v in _unit_outline(kind)]
    return [round(float(min(max(v, 0.0), lim - 1.0)), 2) for x, y in pts for v, lim in ((x, width), (y, height))]


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO crowd format: run lengths of the column-major mask, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(r) for r in runs]}


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
    """Per image: size, number of annotations and whether it holds the crowd region."""
    counts = [N_MANY, 1, 0, 3] + [int(rng.integers(2, 7)) for _ in range(n_images - 4)]
    sizes = [SIZES[int(k)] for k in rng.integers(0, len(SIZES), n_images)]
    return [{"n": n, "crowd": i == 3, "size": size} for i, (n, size) in enumerate(zip(counts, sizes))]


def _place(rng: np.random.Generator, j: int, n: int, width: int, height: int, taken: list) -> tuple:
    """(cx, cy, rx, ry) of shape ``j`` of ``n``: a grid cell on the crowded image, else a free random spot."""
    if n > 30:  # a 6x6 grid of small shapes so every instance stays visible
        cw, ch = width / 6, height / 6
        r, c = divmod(j, 6)
        return (c + 0.5) * cw, (r + 0.5) * ch, float(rng.uniform(0.2, 0.42)) * cw, float(rng.uniform(0.2, 0.42)) * ch
    short = min(width, height)
    for _ in range(MAX_TRIES):
        rx, ry = (float(v) for v in rng.uniform(0.06, 0.17, 2) * short)
        cx, cy = float(rng.uniform(rx + 2, width - rx - 2)), float(rng.uniform(ry + 2, height - ry - 2))
        if all(abs(cx - x) > rx + w + 4 or abs(cy - y) > ry + h + 4 for x, y, w, h in taken):
            break
    return cx, cy, rx, ry


def _crowd_mask(width: int, height: int) -> np.ndarray:
    """A crowd region: four blobs in one mask, in the lower left of the image."""
    mask = np.zeros((height, width), np.uint8)
    sx, sy = width / 512, height / 512
    for k in range(4):
        x0, y0 = int((40 + 45 * k) * sx), int((330 + 20 * (k % 2)) * sy)
        mask[y0:y0 + int(60 * sy), x0:x0 + int(35 * sx)] = 1
    return mask


def _caption(phrases: list[str]) -> list[str]:
    if not phrases:
        return ["An empty grey canvas.", "Nothing but a plain grey background."]
    listed = ", ".join(phrases[:-1]) + (" and " if len(phrases) > 1 else "") + phrases[-1]
    return [f"A synthetic picture of {listed}.", f"{len(phrases)} simple shapes on a grey background."]


def _draw_classes(rng: np.random.Generator, plans: list[dict]) -> tuple[list[int], list[int]]:
    """Per annotation: the index into :data:`CLASSES` and an annotation id whose residue mod 8 is that index."""
    n_total = sum(p["n"] for p in plans)
    kinds = [int(k) for k in rng.integers(0, len(CLASSES), n_total)]
    quotients = rng.choice(np.arange(1, 1_000_000 // len(COLORS)), n_total, replace=False)
    return kinds, [int(q) * len(COLORS) + k for q, k in zip(quotients, kinds)]


def write_synthetic_coco(out_dir: str | Path, seed: int = 0, n_images: int = 12, split: str = "val2017") -> dict:
    """Write the dataset under ``out_dir``; returns a summary (ids and counts). Deterministic in ``seed``."""
    if n_images < 4:
        raise ValueError("the synthetic dataset needs at least 4 images (many / one / none / crowd)")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    cats = coco_categories()
    by_name = {c["name"]: c for c in cats}
    classes = [(by_name[name], shape) for name, shape in CLASSES.items()]
    image_ids = sorted(int(v) for v in rng.choice(np.arange(1, 600_000), n_images, replace=False))
    plans = _plan(rng, n_images)
    kinds, ann_ids = _draw_classes(rng, plans)
    cap_ids = [int(v) for v in rng.choice(np.arange(1, 1_000_000), 2 * n_images, replace=False)]
    images, anns, caps = [], [], []
    next_ann = 0
    for i, (img_id, plan) in enumerate(zip(image_ids, plans)):
        width, height = plan["size"]
        file_name = f"{img_id:012d}.jpg"
        images.append({"id": img_id, "file_name": file_name, "width": width, "height": height,
                       "license": 0, "coco_url": "", "flickr_url": "", "date_captured": ""})
        gy = np.linspace(110, 150, height, dtype=np.float32)
        canvas = np.repeat(gy[:, None, None], width, axis=1).repeat(3, axis=2) + rng.normal(0, 3, (height, width, 1))
        phrases, taken = [], []
        for j in range(plan["n"]):
            ann_id, (cat, shape) = ann_ids[next_ann], classes[kinds[next_ann]]
            next_ann += 1
            if plan["crowd"] and j == 0:  # a crowd region: several blobs in one uncompressed RLE
                mask = _crowd_mask(width, height)
                segmentation, iscrowd = _uncompressed_rle(mask), 1
                rle = mask_utils.frPyObjects(segmentation, height, width)
            else:
                cx, cy, rx, ry = _place(rng, j, plan["n"], width, height, taken)
                taken.append((cx, cy, rx, ry))
                segmentation, iscrowd = [_polygon(shape, cx, cy, rx, ry, width, height)], 0
                rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
                mask = mask_utils.decode(rle)
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            if iscrowd:  # keep the other shapes off the crowd region
                taken.append((bbox[0] + bbox[2] / 2, bbox[1] + bbox[3] / 2, bbox[2] / 2, bbox[3] / 2))
            colour, texture = COLORS[ann_id % 8], ann_id % 8
            paint = _texture(texture, RGB[colour], (height, width), rng, canvas)
            canvas = np.where(mask[..., None] == 1, paint, canvas)
            phrases.append(f"{colour} {cat['name']}")
            anns.append({"id": ann_id, "image_id": img_id, "category_id": cat["id"], "segmentation": segmentation,
                         "area": float(mask_utils.area(rle)), "bbox": bbox, "iscrowd": iscrowd})
        for k, text in enumerate(_caption(phrases)):
            caps.append({"image_id": img_id, "id": cap_ids[2 * i + k], "caption": text})
        path = out_dir / split / file_name
        with atomic_path(path) as tmp:
            Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(tmp, format="JPEG", quality=95)
    # file order like the official file: images shuffled, annotations interleaved across images
    order = rng.permutation(len(images))
    images = [images[k] for k in order]
    anns = [anns[k] for k in rng.permutation(len(anns))]
    caps = [caps[k] for k in rng.permutation(len(caps))]
    info = {"description": f"instdiff synthetic COCO-style smoke dataset (seed {seed})", "version": "1.0"}
    write_json(out_dir / "annotations" / f"instances_{split}.json",
               {"info": info, "licenses": [], "images": images, "annotations": anns, "categories": cats}, indent=None)
    write_json(out_dir / "annotations" / f"captions_{split}.json",
               {"info": info, "licenses": [], "images": images, "annotations": caps}, indent=None)
    log.info("synthetic COCO: %d images, %d annotations in %s", len(images), len(anns), out_dir)
    return {"n_images": len(images), "n_annotations": len(anns), "image_ids": image_ids, "seed": seed}
