"""Instance masks -> the model's location inputs (points, scribbles, polygons), as the original derives them.

Mask -> inputs follows the original ``dataset/decode_item.py`` (reference: original-instancediffusion.md §4.2):

- **point**: the centre of the normalised box (``eval_local.py``; COCO has no ``point`` key).
- **scribble** (:func:`scribble_from_mask`): ``k = 20`` foreground pixels drawn uniformly (without replacement when
  the mask has at least ``k`` pixels, with replacement otherwise), sorted by the distance of ``(row, col)`` to the
  origin (stable), returned as ``(x = col, y = row)`` pixels. An empty mask gives ``k`` zero points.
- **polygon** ("mask as 256 points", :func:`polygon_from_mask`): 128 boundary points plus 128 interior points.
  Boundary: ``skimage.measure.find_contours`` on the mask padded with one zero pixel, at level **0.0** (the original
  passes ``tolerance=0`` in the level position), each contour closed, contours shorter than 3 points dropped,
  flipped to ``(x, y)`` **without** removing the padding offset, negatives set to 0, all contours concatenated and
  128 indices ``int(linspace(0, n - 1, 128))`` taken. Interior: with fewer than 128 foreground pixels, 128 uniform
  draws with replacement; otherwise the foreground pixels sorted by distance to their centroid (stable), cut into
  128 runs of ``n // 128`` and the middle pixel of each run taken (deterministic). Interior then boundary points are
  sorted together by distance of ``(x, y)`` to the origin (stable). A mask without contour gives 256 zero points.
- Pixel coordinates are normalised by the canvas width (x) and height (y) and clipped to at most 1.0
  (``utils/input.py`` ``convert_points``).

Randomness. Every sampler takes ``rng``: either a :class:`numpy.random.Generator` (the pipeline derives one per
image from ``instdiff.core.seeding.derive_seed``, so a draw never depends on which other images were processed) or
:data:`LEGACY_GLOBAL` for the parity path, which draws exactly as the original does: scribbles with
``numpy.random.choice(n, k, replace=n < k)`` on numpy's legacy global RNG, small-mask interior points with ``k``
successive ``random.choice`` calls on Python's global ``random``. The legacy path is only reproducible when the
caller seeds both global RNGs and processes annotations in the original's order (see ``instdiff.data.coco``).
"""

from __future__ import annotations

import random
from typing import Any, Sequence

import numpy as np

from instdiff.core.layout import box_center
from instdiff.core.original_constants import N_POLYGON_POINTS, N_SCRIBBLE_POINTS


class _LegacyGlobal:
    """Marker: draw from numpy's legacy global RNG and Python's ``random``, in the original's call order."""

    def __repr__(self) -> str:
        return "LEGACY_GLOBAL"


LEGACY_GLOBAL = _LegacyGlobal()


# --------------------------------------------------------------------------------------------- point distances


def _sort_by_norm(points: np.ndarray, center: np.ndarray | Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Stable order of ``points`` (n, 2) by Euclidean distance to ``center``.

    The original sorts with ``np.linalg.norm`` per point in a Python ``sorted``; ``sqrt(d0*d0 + d1*d1)`` is the same
    float64 value (checked on the parity fixtures), and a stable argsort keeps the same tie order.
    """
    d = points.astype(np.float64) - np.asarray(center, dtype=np.float64)
    dist = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
    return np.argsort(dist, kind="stable")


def normalize_points(points_xy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Pixel ``(x, y)`` points -> ``(x / width, y / height)``, each clipped to at most 1.0 (``convert_points``)."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    out = np.empty_like(pts)
    out[:, 0] = np.minimum(pts[:, 0] / width, 1.0)
    out[:, 1] = np.minimum(pts[:, 1] / height, 1.0)
    return out


# --------------------------------------------------------------------------------------------- samplers


def point_from_box(box: Sequence[float]) -> tuple[float, float]:
    """The point input of a COCO instance: the centre of its normalised ``[x0, y0, x1, y1]`` box."""
    return box_center(box)


def scribble_from_mask(mask: np.ndarray, rng: Any, k: int = N_SCRIBBLE_POINTS) -> np.ndarray:
    """``k`` random foreground pixels as an (k, 2) float64 array of ``(x, y)`` pixels (zeros for an empty mask)."""
    coords = np.argwhere(mask[..., 0] if mask.ndim == 3 else mask)  # row-major (row, col), like np.nonzero
    n = len(coords)
    if n == 0:
        return np.zeros((k, 2), dtype=np.float64)
    if rng is LEGACY_GLOBAL:
        idx = np.random.choice(n, k, replace=n < k)
    else:
        idx = rng.choice(n, k, replace=n < k)
    picked = coords[idx]
    picked = picked[_sort_by_norm(picked)]
    return picked[:, ::-1].astype(np.float64)  # (row, col) -> (x, y)


def _boundary_points(mask: np.ndarray, n_points: int) -> np.ndarray | None:
    """``n_points`` evenly indexed points of the padded mask's level-0.0 contours, as (x, y); None if no contour."""
    from skimage import measure  # imported here: box-only runs (the GPU benchmark) go without scikit-image

    padded = np.pad(mask, pad_width=1, mode="constant", constant_values=0)
    chunks = []
    for contour in measure.find_contours(padded, 0.0):
        if not np.array_equal(contour[0], contour[-1]):
            contour = np.vstack((contour, contour[0]))  # close it
        # approximate_polygon(contour, tolerance=0) returns its input unchanged, so it is not called.
        if len(contour) < 3:
            continue
        chunks.append(np.maximum(contour[:, ::-1], 0.0))  # (row, col) -> (x, y); padding offset kept (quirk)
    if not chunks:
        return None
    allpts = np.concatenate(chunks, axis=0)
    idx = [int(i) for i in np.linspace(0, allpts.shape[0] - 1, n_points)]
    return allpts[idx]


def _interior_points(mask: np.ndarray, n_points: int, rng: Any) -> np.ndarray:
    """``n_points`` interior points as (x, y) pixels: random for small masks, centroid-ranked otherwise."""
    fg = np.argwhere(mask == 1)
    n = len(fg)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if n < n_points:
        if rng is LEGACY_GLOBAL:
            idx = np.array([random.choice(range(n)) for _ in range(n_points)])
        else:
            idx = rng.integers(0, n, size=n_points)
        picked = fg[idx]
    else:
        order = _sort_by_norm(fg, fg.mean(axis=0))
        per = n // n_points
        picked = fg[order[np.arange(n_points) * per + per // 2]]
    return picked[:, ::-1].astype(np.float64)


def polygon_from_mask(mask: np.ndarray, rng: Any, k: int = N_POLYGON_POINTS) -> np.ndarray | None:
    """The 256-point "mask as points" input as a (k, 2) float64 array of ``(x, y)`` pixels; None without contour.

    The caller substitutes zeros for None, as the original does. Draws happen only for masks with fewer than
    ``k // 2`` foreground pixels.
    """
    mask = (mask[..., 0] if mask.ndim == 3 else mask).astype(np.uint8)
    n_boundary = k // 2
    boundary = _boundary_points(mask, n_boundary)
    if boundary is None:
        return None
    interior = _interior_points(mask, k - n_boundary, rng)
    pts = np.concatenate([interior, boundary], axis=0)
    return pts[_sort_by_norm(pts)]


def instance_conditioning(mask: np.ndarray, width: int, height: int, rng: Any) -> tuple[list, list]:
    """Normalised (scribble, polygon) point lists of one instance mask, drawn in the original's order."""
    scribble = normalize_points(scribble_from_mask(mask, rng), width, height)
    poly = polygon_from_mask(mask, rng)
    polygon = np.zeros((N_POLYGON_POINTS, 2)) if poly is None else normalize_points(poly, width, height)
    return [tuple(p) for p in scribble.tolist()], [tuple(p) for p in polygon.tolist()]
