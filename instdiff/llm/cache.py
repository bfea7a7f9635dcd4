"""A request-hash cache for chat completions: the same request is answered from disk, never sent twice.

The key is the SHA-256 of the canonical JSON of everything that determines the answer (server URL, model, messages,
sampling settings, response format). The API key is never part of the request or the stored entry. One JSON file per
request, written atomically, so a killed run keeps every answer it paid for and a rerun resumes for free.

An entry that cannot be read (truncated, binary garbage, not the answer to the request its name says) is moved aside to
``{hash}.json.corrupt`` and reported as a miss: the request is sent once more and its answer replaces the entry,
instead of every rerun failing on the same file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_json

log = logging.getLogger(__name__)


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
        """The cached response, or None: never stored, or stored but unreadable (then moved aside, see above)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            entry = read_json(path)
            ok = (isinstance(entry, dict) and isinstance(entry.get("response"), dict)
                  and request_hash(entry.get("request")) == key)
        except (InputError, ValueError, OSError):  # ValueError: bad JSON or bytes that are not UTF-8
            ok = False
        if ok:
            return entry["response"]
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.warning("cache entry %s is unreadable or not the answer to its request: moved to %s, asking again",
                    path, aside)
        return None

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        write_json(self.path(key), {"request": request, "response": response})
