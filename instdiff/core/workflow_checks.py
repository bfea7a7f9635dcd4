"""Checks on how a workflow is launched, run by the Snakefile before any job is submitted."""

from __future__ import annotations

import re
from typing import Iterable, Mapping

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")


def _raw(resource) -> object:
    """The value as written in the profile (Snakemake wraps strings into lazily evaluated resources)."""
    return getattr(resource, "raw", resource)


def profile_placeholders(default_resources: Mapping | None, set_resources: Mapping[str, Mapping] | None) -> list[str]:
    """Every resource still holding a ``<PLACEHOLDER>`` value, as 'profile-key: name: value' lines."""
    found: list[str] = []
    for name, res in (default_resources or {}).items():
        value = _raw(res)
        if isinstance(value, str) and PLACEHOLDER.search(value):
            found.append(f"default-resources: {name}: {value}")
    for rule, mapping in (set_resources or {}).items():
        for name, res in mapping.items():
            value = _raw(res)
            if isinstance(value, str) and PLACEHOLDER.search(value):
                found.append(f"set-resources: {rule}: {name}: {value}")
    return found


def placeholder_message(found: Iterable[str]) -> str:
    lines = "\n  ".join(found)
    return (
        "the SLURM profile still has placeholder values:\n  "
        + lines
        + "\nFix: edit slurm/config.yaml (or pass an overlay profile) with your cluster's partition, account and GPU"
        " model; see README, 'Running on SLURM'. Nothing was submitted."
    )
