"""The banner of a run whose numbers say nothing about the model: tiny stand-in models or synthetic data (the smoke
configuration). Every table, figure and report page of such a run carries it, so a number from a wiring test is
never read as a result."""

from __future__ import annotations

from typing import Any, Mapping


def run_banner(config: Mapping[str, Any]) -> str | None:
    """The banner text, or None for a run of the real models on real data."""
    what = []
    if ((config.get("models") or {}).get("source")) == "tiny":
        what.append("tiny random stand-in models (models.source: tiny)")
    if ((config.get("data") or {}).get("source")) == "synthetic":
        what.append("synthetic images and annotations (data.source: synthetic)")
    if not what:
        return None
    return f"Test run on {' and '.join(what)}: these numbers test the wiring, not the model."
