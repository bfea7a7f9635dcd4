"""Strict checks of single values in the records users hand us (results files, box files, demo JSON).

Each check raises one :class:`InputError` naming the file, the field (with the record index) and the fix, before a
library (pycocotools, numpy) meets the value and either fails with a traceback or, worse, moves a metric silently:
NaN and huge boxes, NaN scores and unknown categories all change AP without any error.

``bool`` is a subclass of ``int`` in Python; here it is never a number.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Container

from instdiff.core.errors import InputError

# Slack for boxes that touch the image border after rounding (pixels).
BORDER_SLACK_PX = 1.0


def is_number(value: Any) -> bool:
    """An int or float (numpy scalars included), never a bool, and finite."""
    if type(value) is float or type(value) is int:  # the common case, without the slow ABC check
        return math.isfinite(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return math.isfinite(float(value))


def number(value: Any, path, field: str, fix: str, lo: float | None = None, hi: float | None = None) -> float:
    if not is_number(value):
        raise InputError(path, f"expected a finite number, got {value!r}", fix, field)
    v = float(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InputError(path, f"{v} is outside [{lo}, {hi}]", fix, field)
    return v


def integer(value: Any, path, field: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(path, f"expected an integer, got {value!r}", fix, field)
    return int(value)


def numbers(value: Any, n: int, path, field: str, fix: str) -> list[float]:
    """Exactly ``n`` finite numbers."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise InputError(path, f"expected {n} numbers, got {value!r}"[:200], fix, field)
    return [number(v, path, f"{field}[{k}]", fix) for k, v in enumerate(value)]


def xywh_box(value: Any, path, field: str, width: float, height: float, fix: str) -> list[float]:
    """A COCO ``[x, y, w, h]`` box of 4 finite numbers, w and h >= 0, inside the ``width`` x ``height`` image."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise InputError(path, f"expected a box [x, y, w, h] of 4 numbers, got {value!r}", fix, field)
    x, y, w, h = (number(v, path, f"{field}[{k}]", fix) for k, v in enumerate(value))
    if w < 0 or h < 0:
        raise InputError(path, f"box {list(value)} has a negative width or height", fix, field)
    s = BORDER_SLACK_PX
    if x < -s or y < -s or x + w > width + s or y + h > height + s:
        raise InputError(path, f"box {list(value)} leaves the {width:g} x {height:g} image", fix, field)
    return [x, y, w, h]


def rle_mask(value: Any, path, field: str, height: int, width: int, fix: str) -> None:
    """A COCO RLE (``counts`` string or list) whose runs are non-negative and cover exactly ``height`` x ``width``."""
    from instdiff.core.rle import counts as rle_counts

    if not (isinstance(value, dict) and "counts" in value and "size" in value):
        raise InputError(path, "a mask must be COCO RLE {'size': [h, w], 'counts': ...}", fix, field)
    size = value["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(is_number(v) for v in size)):
        raise InputError(path, f"mask size must be [height, width], got {size!r}", fix, f"{field}.size")
    if [int(v) for v in size] != [int(height), int(width)]:
        raise InputError(path, f"mask size {list(size)} differs from the image size {[int(height), int(width)]}",
                         fix, f"{field}.size")
    raw = value["counts"]
    ok_type = isinstance(raw, (str, bytes)) or (isinstance(raw, list) and all(
        isinstance(c, int) and not isinstance(c, bool) for c in raw))
    try:
        runs = rle_counts(value) if ok_type else None
    except (UnicodeError, ValueError, TypeError):
        runs = None
    if runs is None or (runs < 0).any() or int(runs.sum()) != int(height) * int(width):
        raise InputError(path, "mask counts are not a valid RLE of the image size",
                         "encode masks with pycocotools.mask.encode at the image's height x width", f"{field}.counts")


def polygons(value: Any, path, field: str, fix: str) -> None:
    """COCO polygons: a list of ``[x1, y1, x2, y2, ...]`` lists of finite numbers, each with at least 3 points."""
    for k, poly in enumerate(value):
        if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2 or not all(is_number(v) for v in poly):
            raise InputError(path, "a polygon is a flat list of at least 6 finite numbers (x, y pairs)", fix,
                             f"{field}[{k}]")


def member(value: Any, known: Container, path, field: str, fix: str) -> Any:
    if isinstance(value, bool) or value not in known:
        raise InputError(path, f"unknown value {value!r}", fix, field)
    return value
