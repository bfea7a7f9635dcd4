"""Hugging Face hub checkpoints fetched once, at a pinned commit, into ``resources/`` (rule hub_snapshot).

Compute jobs load the local folder and never reach the network: compute nodes often have none, and 64 shards
downloading one checkpoint at once is how a cache breaks. The commit pins the content (a git commit of the repo);
each file's sha256 is recorded beside the folder so a changed or truncated file is caught.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from instdiff.core.errors import InputError
from instdiff.core.io import write_json

COMMIT = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def slug(repo: str) -> str:
    """The folder name of a hub repository under resources/hub/ ("org/name" -> "org--name")."""
    return repo.replace("/", "--")


def is_hub_id(name: str | None) -> bool:
    """A hub id ("org/name") rather than a local folder."""
    return bool(name) and not Path(name).exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None


def require_pinned(repo: str, revision: str | None, config_key: str, config_file: str = "config/config.yaml") -> str:
    """The revision when it is a full commit hash; else one clear error naming the config key to set."""
    if revision is None or not COMMIT.match(str(revision)):
        raise InputError(
            config_file,
            f"hub repository {repo} has revision {revision!r}, not a pinned 40-hex commit",
            f"set {config_key} to the commit to use (hub page, 'Files and versions' > history; or "
            f"`huggingface_hub.HfApi().model_info('{repo}').sha` once, then keep it)",
            config_key,
        )
    return str(revision)


def go_offline() -> None:
    """Keep this process off the hub: a compute job loads local files only (huggingface_hub reads the variable
    when it is first imported, so call this before anything imports it)."""
    os.environ["HF_HUB_OFFLINE"] = "1"


def unpinned(pins: dict[str, object]) -> list[str]:
    """The config keys of ``pins`` (config key -> value) that pin nothing: a ``...revision`` that is not a 40-hex
    commit (null, "main", a tag: all float), a ``...sha256`` that is not 64 hex digits."""
    return [f"{key}: {value!r}" for key, value in pins.items()
            if not (SHA256 if key.endswith("sha256") else COMMIT).match(str(value or ""))]


def unpinned_message(keys: list[str], config_file: str) -> str:
    """One pre-submission error for every unpinned download of a run, with the fix."""
    lines = "\n  ".join(keys)
    return (
        f"{config_file}: these downloads are not pinned, so the run would fetch whatever the hub serves today:\n  "
        + lines
        + "\nFix: set each key to what you audited: a `revision` to the 40-hex hub commit (hub page, 'Files and "
        "versions' > history), a `sha256` to the file's `sha256sum`. Nothing was submitted."
    )


def file_checksums(folder: str | Path) -> dict[str, str]:
    """sha256 of every file of a snapshot, by relative path (the hub's own cache folder left out)."""
    folder = Path(folder)
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.relative_to(folder).parts):
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[path.relative_to(folder).as_posix()] = h.hexdigest()
    return out


def fetch_snapshot(repo: str, revision: str | None, dest: str | Path, record: str | Path, config_key: str) -> dict[str, Any]:
    """Download ``repo`` at its pinned commit into ``dest`` and write the record (repo, commit, file sha256)."""
    commit = require_pinned(repo, revision, config_key)
    from huggingface_hub import snapshot_download

    snapshot_download(repo_id=repo, revision=commit, local_dir=str(dest))
    info = {"repo": repo, "revision": commit, "files": file_checksums(dest)}
    write_json(record, info)
    return info
