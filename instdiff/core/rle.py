"""Reading COCO run-length encodings without decoding whole masks (PiM tests a few pixels per mask).

A COCO RLE lists alternating run lengths of 0s and 1s over the mask flattened in column-major order. The
compressed form (``counts`` as a string) stores each run as 5-bit groups (chars offset by 48; bit 0x20 =
another group follows; bit 0x10 of the last group = negative) and, from the fourth run on, as the difference
to the run two places earlier. This is pycocotools' ``rleFrString``, vectorised with numpy.
"""

from __future__ import annotations

import numpy as np


def counts(rle: dict) -> np.ndarray:
    """Run lengths (int64) of a compressed (str / bytes counts) or uncompressed (list counts) RLE."""
    raw = rle["counts"]
    if isinstance(raw, list):
        return np.asarray(raw, dtype=np.int64)
    data = raw.encode("ascii") if isinstance(raw, str) else bytes(raw)
    b = np.frombuffer(data, dtype=np.uint8).astype(np.int64) - 48
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (b & 0x20) == 0  # last char of each number
    first = np.concatenate([[True], last[:-1]])
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    shift = 5 * (np.arange(b.size) - starts[group])
    x = np.add.reduceat((b & 0x1F) << shift, starts)
    n_chars = np.diff(np.append(starts, b.size))
    negative = (b[last] & 0x10) != 0
    x[negative] -= np.left_shift(1, 5 * n_chars[negative])
    # Runs 3, 4, ... are stored as differences to the run two places earlier (pycocotools: ``if (m > 2)``).
    out = x.copy()
    out[2::2] = np.cumsum(x[2::2])
    out[1::2] = np.cumsum(x[1::2])
    return out


def foreground_rowmajor(rle: dict) -> np.ndarray:
    """Flat row-major indices (row * W + col) of the 1-pixels, ascending: what ``np.flatnonzero(mask)`` gives."""
    h, w = (int(v) for v in rle["size"])
    c = counts(rle)
    ends = np.cumsum(c)
    run_start, run_len = (ends - c)[1::2], c[1::2]
    total = int(run_len.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.arange(total) - np.repeat(np.cumsum(run_len) - run_len, run_len)
    colmajor = np.repeat(run_start, run_len) + offsets  # ascending: by column, then row
    rows, cols = colmajor % h, colmajor // h
    # A stable sort by row keeps the columns ascending within a row: row-major order. uint16 keys (h <= 65535)
    # make numpy use a linear-time radix sort.
    order = np.argsort(rows.astype(np.uint16) if h <= 65535 else rows, kind="stable")
    return (rows * w + cols)[order]


def contains(rle: dict, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Whether the mask is 1 at each (row, col) inside the canvas (callers handle points outside it)."""
    h = int(rle["size"][0])
    ends = np.cumsum(counts(rle))
    q = np.asarray(cols, dtype=np.int64) * h + np.asarray(rows, dtype=np.int64)
    return np.searchsorted(ends, q, side="right") % 2 == 1
