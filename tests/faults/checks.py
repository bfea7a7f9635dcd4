"""The three facts every fault test asserts: the outcome (by the test), nothing half-written, no secret written."""

from __future__ import annotations

from pathlib import Path

from instdiff.core.io import is_temp


def assert_nothing_half_written(folder: str | Path, allow_part: bool = False) -> None:
    """No temporary sibling of an atomic write and (unless ``allow_part``: kept on purpose for resuming) no
    download ``.part`` file anywhere under ``folder``."""
    left = [p for p in Path(folder).rglob("*") if is_temp(p) or (p.name.endswith(".part") and not allow_part)]
    assert not left, f"half-written files left behind: {left}"


def assert_no_secret(folder: str | Path, secret: str) -> None:
    """``secret`` (and its first 12 characters, a truncated echo) appears in no file under ``folder``."""
    needles = {secret.encode(), secret[:12].encode()}
    for p in Path(folder).rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert not any(n in data for n in needles), f"secret written to {p}"
