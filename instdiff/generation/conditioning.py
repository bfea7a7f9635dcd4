"""Layouts -> the grounding tensors.

Mask -> inputs (points, scribbles, polygons) lives in :mod:`instdiff.data.location_inputs` (the layouts are derived
there); masks as RLE in :mod:`instdiff.core.masks`.

Grounding tensors (:func:`grounding_inputs`, the original ``utils/input.py`` ``prepare_batch``) are built for every
location kind alike: ``location`` never removes an input here. Which inputs the model actually uses is decided by
the UniFusion drop flags of the test config (box / mask / point / scribble, original-instancediffusion.md §3).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from instdiff.core.layout import Instance, Layout
from instdiff.core.masks import decode_mask
from instdiff.data.location_inputs import point_from_box
from instdiff.core.original_constants import MAX_OBJS, N_POLYGON_POINTS, N_SCRIBBLE_POINTS, SEG_RESOLUTION, TEXT_EMBED_DIM

ATT_MASK_SIZE = 64  # the latent resolution the masked attention works at
LOCATIONS = ("box", "mask", "point", "scribble")



# --------------------------------------------------------------------------------------------- grounding tensors


def _instance_seg(inst: Instance, first_row_quirk: bool) -> np.ndarray:
    """The (512, 512) float32 seg input of an instance; the first mask row broadcast when the quirk applies."""
    seg = np.zeros((SEG_RESOLUTION, SEG_RESOLUTION), dtype=np.float32)
    if inst.mask is None:
        return seg
    m = decode_mask(inst.mask)
    if m.shape != (SEG_RESOLUTION, SEG_RESOLUTION):
        from PIL import Image

        m = np.array(Image.fromarray(m).resize((SEG_RESOLUTION, SEG_RESOLUTION), resample=Image.Resampling.NEAREST))
    seg[:] = m[0][None, :] if first_row_quirk else m
    return seg


def _att_mask(box: Sequence[float], size: int = ATT_MASK_SIZE) -> np.ndarray:
    """Box attention mask as ``utils/input.py`` builds it: ones on ``[round(s*x0):round(s*x1), round(s*y0):round(s*y1)]``.

    The FIRST axis is x (transposed with respect to the token order, consistently with training; quirk 5).
    Rounding is numpy's half-to-even. Corners are clipped to the canvas so an out-of-canvas box cannot wrap around.
    """
    out = np.zeros((size, size), dtype=np.float32)
    x0, y0, x1, y1 = (min(size, max(0, int(np.round(float(v) * size)))) for v in box)
    out[x0:x1, y0:y1] = 1.0
    return out


def _empty(max_objs: int, with_att: bool) -> dict[str, np.ndarray]:
    d = {
        "boxes": np.zeros((max_objs, 4), np.float32),
        "masks": np.zeros((max_objs,), np.float32),
        "text_masks": np.zeros((max_objs,), np.float32),
        "text_embeddings": np.zeros((max_objs, TEXT_EMBED_DIM), np.float32),
        "polygons": np.zeros((max_objs, N_POLYGON_POINTS * 2), np.float32),
        "scribbles": np.zeros((max_objs, N_SCRIBBLE_POINTS * 2), np.float32),
        "points": np.zeros((max_objs, 2), np.float32),
        "segs": np.zeros((max_objs, SEG_RESOLUTION, SEG_RESOLUTION), np.float32),
    }
    if with_att:
        d["att_masks"] = np.zeros((max_objs, ATT_MASK_SIZE, ATT_MASK_SIZE), np.float32)
    return d


def _fill_slot(out: dict, slot: int, inst: Instance, emb: np.ndarray, seg: np.ndarray) -> None:
    out["boxes"][slot] = inst.box
    out["masks"][slot] = 1.0
    out["text_masks"][slot] = 1.0
    out["text_embeddings"][slot] = emb
    if inst.polygon is not None:
        out["polygons"][slot] = np.asarray(inst.polygon, dtype=np.float64).reshape(-1)
    if inst.scribble is not None:
        out["scribbles"][slot] = np.asarray(inst.scribble, dtype=np.float64).reshape(-1)
    out["points"][slot] = inst.point if inst.point is not None else point_from_box(inst.box)
    out["segs"][slot] = seg
    if "att_masks" in out:
        out["att_masks"][slot] = _att_mask(inst.box)


def _check(location: str, layout: Layout, max_objs: int) -> list[Instance]:
    if location not in LOCATIONS:
        raise ValueError(f"location must be one of {LOCATIONS}, got {location!r}")
    return layout.instances[:max_objs]


def seg_first_row_quirk(layout: Layout) -> bool:
    """Whether this layout's seg input copies the original's single-annotation bug (set by ``instdiff.data.coco``)."""
    return bool(layout.meta.get("seg_first_row_quirk", False))


def _embeddings(text_embed_fn: Callable[[list[str]], Any], phrases: list[str]) -> np.ndarray:
    if not phrases:
        return np.zeros((0, TEXT_EMBED_DIM), np.float32)
    emb = np.asarray(text_embed_fn(phrases), dtype=np.float32).reshape(len(phrases), -1)
    return emb


def grounding_inputs(
    layout: Layout,
    location: str,
    text_embed_fn: Callable[[list[str]], Any],
    max_objs: int = MAX_OBJS,
    use_masked_att: bool = False,
) -> dict[str, np.ndarray]:
    """The grounding tensors of one layout (``prepare_batch`` without the batch axis), as float32 numpy arrays.

    Keys and shapes (``N = max_objs`` slots; slots beyond the layout's instances are zero):
    ``boxes`` (N, 4) normalised xyxy; ``masks`` (N,) slot validity; ``text_masks`` (N,); ``text_embeddings``
    (N, 768), the instance phrases' pooled CLIP text embeddings (the model's ``positive_embeddings``);
    ``polygons`` (N, 512) and ``scribbles`` (N, 40) flattened normalised ``x, y`` lists; ``points`` (N, 2) (box centre
    when the instance has no point); ``segs`` (N, 512, 512) instance masks; and, only with ``use_masked_att``,
    ``att_masks`` (N, 64, 64) box masks with the first axis x.

    ``location`` is validated but removes nothing: the test config's drop flags select what the model uses.
    ``text_embed_fn(phrases) -> (n, 768)`` is called once with the phrases of the kept instances.
    """
    insts = _check(location, layout, max_objs)
    quirk = seg_first_row_quirk(layout)
    out = _empty(max_objs, use_masked_att)
    emb = _embeddings(text_embed_fn, [inst.phrase for inst in insts])
    for slot, inst in enumerate(insts):
        _fill_slot(out, slot, inst, emb[slot], _instance_seg(inst, quirk))
    return out


def instance_inputs(
    layout: Layout,
    location: str,
    text_embed_fn: Callable[[list[str]], Any],
    max_objs: int = MAX_OBJS,
    use_masked_att: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Per-instance grounding tensors for the multi-instance sampler: instance ``i`` alone in slot 0.

    Same keys, shapes and rules as :func:`grounding_inputs` (``prepare_batch``'s ``instance_meta``); the MIS chain
    of instance ``i`` is prompted with its phrase alone (``layout.instances[i].phrase``).
    """
    insts = _check(location, layout, max_objs)
    quirk = seg_first_row_quirk(layout)
    emb = _embeddings(text_embed_fn, [inst.phrase for inst in insts])
    result = []
    for i, inst in enumerate(insts):
        out = _empty(max_objs, use_masked_att)
        _fill_slot(out, 0, inst, emb[i], _instance_seg(inst, quirk))
        result.append(out)
    return result
