"""A request-hash cache for chat completions: the same request is answered from disk, never sent twice.

The key is the SHA-256 of the canonical JSON of everything that determines the answer (server URL, model, messages,
sampling settings, response format). The API key is never part of the request or the stored entry. One JSON file per
request, written atomically, so a killed run keeps every answer it paid for and a rerun resumes for free.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from instdiff.core.io import read_json, write_json


def request_hash(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class RequestCache:
    """``{dir}/{hash[:2]}/{hash}.json`` holding ``{"request": ..., "response": ...}``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        return read_json(path)["response"] if path.exists() else None

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        write_json(self.path(key), {"request": request, "response": response})
