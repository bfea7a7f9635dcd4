"""Seeds derived from names, so every random draw is reproducible and independent of sharding.

A draw for image 139 of experiment ``box`` gets the same seed whether it runs in shard 0 of 1 or shard 7 of 64.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(run_seed: int, *keys: object) -> int:
    """A 63-bit seed from the run seed and any keys (experiment name, image id, purpose...)."""
    text = "\x1f".join([str(int(run_seed)), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def rng(run_seed: int, *keys: object) -> np.random.Generator:
    """A numpy Generator seeded from :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(run_seed, *keys))
