"""The vectorised RLE reader agrees with pycocotools' decoder on random masks."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from instdiff.core import rle


@pytest.mark.parametrize("seed", range(5))
def test_rle_reader_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 300, 2))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(0, 6)):  # blobs plus salt noise: long and short runs
        r0, c0 = rng.integers(0, h), rng.integers(0, w)
        mask[r0:r0 + rng.integers(1, h + 1), c0:c0 + rng.integers(1, w + 1)] = 1
    mask[rng.random((h, w)) < 0.02] ^= 1
    enc = mask_utils.encode(np.asfortranarray(mask))
    as_str = {"size": enc["size"], "counts": enc["counts"].decode("ascii")}
    np.testing.assert_array_equal(rle.foreground_rowmajor(as_str), np.flatnonzero(mask))
    rows, cols = rng.integers(0, h, 50), rng.integers(0, w, 50)
    np.testing.assert_array_equal(rle.contains(enc, rows, cols), mask[rows, cols] == 1)
    assert rle.counts(as_str).sum() == h * w


def test_uncompressed_counts_and_empty_mask():
    crowd = {"size": [3, 2], "counts": [1, 2, 3]}  # column-major: 0 at (0,0); 1 at (1,0), (2,0); rest 0
    np.testing.assert_array_equal(rle.foreground_rowmajor(crowd), [2, 4])
    empty = mask_utils.encode(np.asfortranarray(np.zeros((4, 4), np.uint8)))
    assert rle.foreground_rowmajor(empty).size == 0
    assert not rle.contains(empty, [0, 3], [3, 0]).any()
