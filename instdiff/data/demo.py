"""The original demo JSON format (``inference.py --input_json``, ``demos/*.json``) -> :class:`Layout`, and a preview.

Demo JSON: ``caption``, ``width``, ``height`` (the pixel frame of every coordinate) and ``annos``, each with
optional ``bbox`` (COCO ``[x, y, w, h]`` pixels; missing -> ``[0, 0, 0, 0]`` as the original), ``mask`` (COCO RLE
``{"size": [h, w], "counts": str}`` or ``[]``), ``point`` (``[x, y]`` pixels), ``scribble`` (``[[x, y], ...]``
pixels), ``category_name`` (kept as the category) and ``caption`` (the instance phrase).

Differences from ``inference.py``, on purpose: masks are USED (the original decodes them and then throws them
away, issues #7 / #48), and each instance's scribble is its own (the original re-sorts the list of instances
instead of each instance's points, ``reorder_scribbles``). Points stay optional per instance (the conditioning
falls back to the box centre), instead of the original's all-or-nothing rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from instdiff.core import records
from instdiff.core.errors import InputError
from instdiff.core.io import read_json
from instdiff.core.layout import Instance, Layout, coco_xywh_px_to_norm_xyxy
from instdiff.core.original_constants import N_SCRIBBLE_POINTS

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def _pixels_pair(v: Any, where: str, source) -> tuple[float, float]:
    x, y = records.numbers(v, 2, source, where, "write points as [x, y]: two finite pixel numbers")
    return x, y


def resample_scribble(points: list[tuple[float, float]], k: int = N_SCRIBBLE_POINTS) -> list[tuple[float, float]]:
    """A drawn scribble of any length -> the model's ``k`` points: sorted by distance to the origin (stable, the
    order of the mask-sampled scribbles the model was trained on), then ``k`` indices ``int(linspace(0, n-1, k))``
    (repeats when n < k). This is what ``reorder_scribbles`` meant to do per instance."""
    pts = sorted(points, key=lambda p: float(np.hypot(p[0], p[1])))
    idx = np.linspace(0, len(pts) - 1, k).astype(int)
    return [pts[i] for i in idx]


def layout_from_demo(d: dict[str, Any], source: str | Path | None = None, layout_id: str | None = None) -> Layout:
    """Convert one demo JSON object to a :class:`Layout` (normalised coordinates, RLE masks kept)."""
    for key in ("caption", "width", "height", "annos"):
        if key not in d:
            raise InputError(source, f"demo layout is missing {key!r}", "use the format of the original demos/*.json", key)
    size_fix = "give the canvas size as two positive whole numbers of pixels"
    W = float(records.integer(d["width"], source, "width", size_fix))
    H = float(records.integer(d["height"], source, "height", size_fix))
    if W <= 0 or H <= 0:
        raise InputError(source, f"width/height must be positive, got {W} x {H}", size_fix, "width")
    if not isinstance(d["caption"], str):
        raise InputError(source, f"caption must be text, got {d['caption']!r}", "write the prompt as a string", "caption")
    if not isinstance(d["annos"], list) or not d["annos"]:
        raise InputError(source, "annos must be a non-empty list of instances", "give at least one instance", "annos")
    instances = []
    for i, a in enumerate(d["annos"]):
        where = f"annos[{i}]"
        if not isinstance(a, dict) or not isinstance(a.get("caption"), str):
            raise InputError(source, "instance has no 'caption' text", "give every instance a caption (its phrase)", where)
        bbox = records.numbers(a.get("bbox") or [0, 0, 0, 0], 4, source, where + ".bbox",
                               "write the bbox as [x, y, w, h]: four finite pixel numbers")
        if bbox[2] < 0 or bbox[3] < 0:
            raise InputError(source, f"bbox {bbox} has a negative width or height", "write [x, y, w, h] with w, h >= 0",
                             where + ".bbox")
        box = coco_xywh_px_to_norm_xyxy(bbox, W, H)
        point = None
        if a.get("point") is not None:
            px, py = _pixels_pair(a["point"], where + ".point", source)
            point = (px / W, py / H)
        scribble = None
        if a.get("scribble"):
            pts = [_pixels_pair(p, where + ".scribble", source) for p in a["scribble"]]
            scribble = [(x / W, y / H) for x, y in resample_scribble(pts)]
        mask = a.get("mask") or None
        if mask is not None:
            records.rle_mask(mask, source, where + ".mask", int(H), int(W),
                             "encode the mask with pycocotools.mask.encode at the layout's height x width (or [])")
            counts = mask["counts"]
            mask = {"size": [int(H), int(W)], "counts": counts.decode() if isinstance(counts, bytes) else counts}
        instances.append(Instance(phrase=str(a["caption"]), box=box, category=a.get("category_name") or None,
                                  point=point, scribble=scribble, mask=mask))
    stem = layout_id or (Path(source).stem if source else "layout")
    return Layout(id=stem, caption=str(d["caption"]), instances=instances, width=int(W), height=int(H),
                  meta={"source": None if source is None else str(source), "format": "instancediffusion-demo"})


DEMOS_DIR = Path(__file__).resolve().parents[1] / "assets" / "demos"


def shipped_demos() -> list[str]:
    """Names of the demo layouts that ship with the package (``instdiff/assets/demos``)."""
    return sorted(p.stem for p in DEMOS_DIR.glob("*.json"))


def demo_path(name_or_path: str | Path) -> Path:
    """A layout file: the path itself when it exists, else the shipped demo of that name."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = DEMOS_DIR / f"{name_or_path}.json"
    if shipped.is_file():
        return shipped
    raise InputError(p, "no such layout file or shipped demo",
                     f"pass a demo-format JSON file or one of: {', '.join(shipped_demos())}", "--layout")


def read_demo(path: str | Path) -> Layout:
    """A demo layout from a file, or a shipped demo by name (``boxes_picnic``)."""
    path = demo_path(path)
    return layout_from_demo(read_json(path), path)


def mask_at(mask: dict, size: int) -> np.ndarray:
    """A layout RLE mask as a (size, size) bool array (nearest-neighbour resize, as the seg input)."""
    from instdiff.core.masks import decode_mask

    m = decode_mask(mask) * 255
    return np.asarray(Image.fromarray(m).resize((size, size), Image.NEAREST)) > 0


def draw_layout(layout: Layout, size: int = 512, background: Image.Image | None = None) -> Image.Image:
    """Preview of a layout on a ``size``×``size`` canvas (the generated image's frame): masks tinted, boxes, points,
    scribbles and phrases, one colour per instance."""
    base = (background.convert("RGB").resize((size, size)) if background is not None
            else Image.new("RGB", (size, size), (255, 255, 255)))
    canvas = np.asarray(base).astype(np.float32)
    for i, inst in enumerate(layout.instances):
        if inst.mask:
            m = mask_at(inst.mask, size)
            canvas[m] = 0.6 * canvas[m] + 0.4 * np.array(PALETTE[i % len(PALETTE)], np.float32)
    img = Image.fromarray(canvas.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for i, inst in enumerate(layout.instances):
        c = PALETTE[i % len(PALETTE)]
        x0, y0, x1, y1 = (v * size for v in inst.box)
        draw.rectangle([x0, y0, max(x0, x1), max(y0, y1)], outline=c, width=2)
        draw.text((x0 + 3, y0 + 2), inst.phrase[:40], fill=c)
        if inst.point is not None:
            px, py = inst.point[0] * size, inst.point[1] * size
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=c, outline=(0, 0, 0))
        if inst.scribble:
            for x, y in inst.scribble:
                draw.ellipse([x * size - 2, y * size - 2, x * size + 2, y * size + 2], fill=c)
    return img


def complete_from_masks(layout: Layout, seed: int) -> Layout:
    """Fill the scribble (20 points) and polygon (256 points) of every instance that has a mask but not those
    inputs, sampled from the mask as ``dataset/decode_item.py`` does, with a generator seeded from
    ``derive_seed(seed, layout id, "conditioning")`` (the original's draws were unseeded). Given scribbles are kept."""
    import dataclasses

    from instdiff.core.masks import decode_mask as decode_rle
    from instdiff.data.location_inputs import instance_conditioning
    from instdiff.core.seeding import rng as seeded_rng

    gen = seeded_rng(seed, layout.id, "conditioning")
    out = []
    for inst in layout.instances:
        if inst.mask is not None and (inst.scribble is None or inst.polygon is None):
            scribble, polygon = instance_conditioning(decode_rle(inst.mask), layout.width, layout.height, gen)
            inst = dataclasses.replace(inst, scribble=inst.scribble if inst.scribble is not None else scribble,
                                       polygon=inst.polygon if inst.polygon is not None else polygon)
        out.append(inst)
    return dataclasses.replace(layout, instances=out)
