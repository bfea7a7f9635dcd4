"""Checkpoint files with their SHA256 in a small JSON beside them (``<file>.json``), for the run manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_json


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sidecar(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def record(path: str | Path, **info: Any) -> dict:
    """Write ``<path>.json`` with the file's SHA256, size and ``info`` (source URL, settings...)."""
    path = Path(path)
    meta = {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size, **info}
    write_json(sidecar(path), meta)
    return meta


def verify(path: str | Path, expected_sha256: str | None) -> str:
    """The file's SHA256; InputError if ``expected_sha256`` is given and differs."""
    digest = sha256(path)
    if expected_sha256 and digest != expected_sha256.lower():
        raise InputError(path, f"SHA256 mismatch: got {digest}, expected {expected_sha256}",
                         "delete the file and download it again, or correct the expected checksum in the config")
    return digest


def require_pin(expected_sha256: str | None, name: str, url: str | None = None) -> str:
    """The pinned SHA256 of a release download; InputError (before anything is fetched) when it is not pinned.

    A download that is not checked against a pin could be any file the server (or a proxy) hands out, and a ``.pt``
    file can carry code.
    """
    if not expected_sha256:
        where = f" from {url}" if url else ""
        raise InputError(None, f"no pinned SHA256 for {name!r}: a release run verifies every download",
                         f"download it once{where}, check it, and set models.sha256.{name} to its `sha256sum` "
                         "(64 hex digits) in the config", f"models.sha256.{name}")
    return expected_sha256


def read_record(path: str | Path) -> dict:
    return read_json(sidecar(path))
