"""Checks on config values that JSON Schema cannot express, run by rules/common.smk right after the schema.

YAML reads ``.nan``, ``.inf`` and ``-.inf`` as floats, and JSON Schema's ``minimum`` / ``maximum`` compare them
without complaint (``nan < 0`` is false), so ``guidance_scale: .nan`` passes every schema and generates an
all-zero image. :func:`check_finite` refuses any number that is not finite, wherever it is in the config.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from instdiff.core.errors import InputError


def nonfinite_keys(value: Any, where: str = "") -> Iterator[str]:
    """Dotted keys (``experiments.box.guidance_scale``, ``a.b[2]``) of every NaN or infinite float in ``value``."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield where or "<config>"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nonfinite_keys(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            yield from nonfinite_keys(item, f"{where}[{k}]")


def check_finite(config: Any, source: str | None = None) -> None:
    """One InputError naming the first key whose value is NaN or infinite (and how many more there are)."""
    bad = list(nonfinite_keys(config))
    if bad:
        more = f" (and {len(bad) - 1} more: {', '.join(bad[1:4])})" if len(bad) > 1 else ""
        raise InputError(source, f"{bad[0]} is not a finite number{more}",
                         "write a finite number (YAML .nan / .inf are refused)", bad[0])


def capped_shards(requested: int, n_images: int, key: str, warn) -> int:
    """The shard count of an experiment: ``requested``, but at most one shard per image.

    Each shard is a job, so an absurd count (10^12) would make Snakemake build that many jobs until memory runs out;
    shards beyond the image count would generate nothing. ``warn(message)`` is called once when the count is cut.
    """
    if requested > n_images >= 1:
        warn(f"{key}: {requested} shards for {n_images} images; using {n_images} (one image per shard)")
        return n_images
    return requested
