"""Instance masks as COCO RLE: encode and decode (the lowest floor: data, generation and metrics all read masks)."""

from __future__ import annotations

import numpy as np


def encode_mask(mask: np.ndarray) -> dict:
    """Binary (H, W) mask -> compressed COCO RLE with ``counts`` as a str (JSON-ready)."""
    from pycocotools import mask as mask_utils  # imported here: box-only runs (the GPU benchmark) go without it

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_mask(rle: dict) -> np.ndarray:
    """COCO RLE (compressed, str or bytes counts, or uncompressed list counts) -> (H, W) uint8 0/1 mask."""
    from pycocotools import mask as mask_utils

    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    elif isinstance(counts, str):
        rle = {"size": [h, w], "counts": counts.encode("ascii")}
    return mask_utils.decode(rle).astype(np.uint8)
