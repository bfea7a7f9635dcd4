"""What a generated image was made from, so a rerun can tell a finished image from a stale or damaged one.

Each generated image ``images/{experiment}/{id}.png`` gets a record ``images/{experiment}/records/{id}.json``,
written (atomically) only after the image (and its refined copy) is on disk:

``{id, file, sha256, refined_sha256, layout_sha256, settings_sha256, model_sha256, code_version, torch_threads, batch}``

- ``layout_sha256``: sha256 of the layout's canonical JSON (sorted keys, no whitespace), so an edited caption or
  box makes the image stale;
- ``settings_sha256``: sha256 of the experiment's generation settings, seed, format and precision (the folder
  fingerprint, ``instdiff.generation.shard``), so an edited experiment regenerates its images;
- ``model_sha256``: sha256 over the model folder's files (relative path and content), not its path;
- ``code_version``: the behaviour hash of the generation code (:func:`generation_code_version`), so a fix to it
  regenerates the images it would change, while a comment or docstring edit keeps them;
- ``sha256`` / ``refined_sha256``: the bytes written, so a truncated, emptied or replaced file is noticed;
- ``torch_threads`` and ``batch`` (group size, rows per UNet call): CPU kernels split reductions by thread count
  and batched calls group rows differently, either of which moves a few pixels by one level.

An image is reused only when its record matches all of these and the file still decodes. The records live
outside the shard manifests because Snakemake deletes a rule's outputs (the manifests) before rerunning it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from instdiff.core.checkpoints import sha256 as file_sha256
from instdiff.core.code_version import module_code_version
from instdiff.core.errors import InputError
from instdiff.core.io import write_json
from instdiff.core.layout import Layout

RECORDS_DIR = "records"
# The fields that must equal the current run's for an image to be reused (besides the file hashes).
REUSE_KEYS = ("layout_sha256", "settings_sha256", "model_sha256", "code_version", "torch_threads", "batch")
# The module a generate job runs (ShardJob): its import closure holds every package module that can move a pixel
# (pipeline, sampler, model, conditioning, ...), and nothing the job does not import.
GENERATION_MODULE = "instdiff.generation.shard"

# The file a generated image is written to, by generation.image_format (every stage that reads images finds them here).
IMAGE_FORMATS = {"png": ".png", "jpeg75": ".jpg"}


def image_file(out_dir: str | Path, layout_id: str, image_format: str = "png") -> Path:
    if image_format not in IMAGE_FORMATS:
        raise InputError(None, f"unknown image_format {image_format!r}", f"use one of {sorted(IMAGE_FORMATS)}",
                         "generation.image_format")
    return Path(out_dir) / f"{layout_id}{IMAGE_FORMATS[image_format]}"


def layout_sha256(layout: Layout) -> str:
    canonical = json.dumps(layout.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def folder_sha256(folder: str | Path) -> str:
    """Content hash of a model folder: every file's relative path and bytes, in sorted path order."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        h.update(file_sha256(path).encode("ascii"))
    return h.hexdigest()


def generation_code_version() -> str:
    """The version of the code that makes an image: :func:`instdiff.core.code_version.module_code_version` of
    :data:`GENERATION_MODULE` (its syntax trees, without comments, docstrings or formatting)."""
    return module_code_version(GENERATION_MODULE)


def record_path(out_dir: str | Path, layout_id: str) -> Path:
    return Path(out_dir) / RECORDS_DIR / f"{layout_id}.json"


def decodes(path: Path) -> bool:
    """Whether the file is a complete image (PIL decodes every pixel; a truncated PNG fails here)."""
    from PIL import Image

    from instdiff.core.image_errors import DECODE_ERRORS

    try:
        with Image.open(path) as im:
            im.load()
    except DECODE_ERRORS:
        return False
    return True


def read_record(out_dir: str | Path, layout_id: str) -> dict[str, Any] | None:
    """The image's record, or None when there is none or it is not one (binary bytes, bad JSON, ``[]``): the
    image is then regenerated like any other unfinished one."""
    path = record_path(out_dir, layout_id)
    try:
        rec = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):  # ValueError: bad JSON or bytes that are not UTF-8
        return None
    return rec if isinstance(rec, dict) else None


def write_record(out_dir: str | Path, record: dict[str, Any]) -> None:
    write_json(record_path(out_dir, record["id"]), record)


def is_current(out_dir: str | Path, file: str, want: dict[str, Any], refined: bool) -> bool:
    """Whether ``out_dir/file`` is a finished image of the layout and model described by ``want``.

    ``want`` holds the :data:`REUSE_KEYS` values and ``id``; with ``refined`` the refined copy must match too.
    """
    out_dir = Path(out_dir)
    rec = read_record(out_dir, want["id"])
    if rec is None or any(rec.get(k) != want[k] for k in REUSE_KEYS):
        return False
    paths = [(out_dir / file, rec.get("sha256"))]
    if refined:
        paths.append((out_dir / "refined" / file, rec.get("refined_sha256")))
    for path, digest in paths:
        if digest is None or not path.is_file() or file_sha256(path) != digest or not decodes(path):
            return False
    return True
