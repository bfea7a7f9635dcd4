"""Fetch the extension's shipped files (GPT-4o replies, CogVLM and ChatGPT box files) at its pinned commit.

Only needed on a machine without a local copy; each file's SHA-256 goes into ``sources.json`` beside them so runs
can tell which copy they used.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

from instdiff.core.io import atomic_path, write_json

log = logging.getLogger(__name__)

REPO = "Jellemvdl/InstanceDiffusion-extension"
COMMIT = "2da4b15df6ed9c13c255c453a732c61ce2361119"
RAW = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/"
FILES = {
    "converted_cogvlm_bboxes.json": "src/lib/llm_submodule/cogvlm/cogvlm_data/converted_cogvlm_bboxes.json",
    "cogvlm_bboxes.json": "src/lib/llm_submodule/cogvlm/cogvlm_data/cogvlm_bboxes.json",
    "bounding_boxes_chatgpt.json": "src/lib/llm_submodule/cogvlm/bounding_boxes_chatgpt.json",
}
REPLIES = "src/lib/llm_submodule/chatgpt/chatgpt_data/2024-05-19_10-12/chatgpt_descriptions_bboxes{i}.json"
N_REPLIES = 100


def _fetch(url: str, dest: Path, timeout: float = 60.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def fetch_extension_files(out_dir: str | Path, replies_dir_name: str = "gpt4o-layouts-2024-05-19") -> dict:
    """Download the box files and the 100 replies into ``out_dir``; returns (and writes) ``sources.json``."""
    out = Path(out_dir)
    sources = {"repository": REPO, "commit": COMMIT, "files": {}}
    for name, path in FILES.items():
        sources["files"][name] = _fetch(RAW + path, out / name)
    for i in range(1, N_REPLIES + 1):
        rel = REPLIES.format(i=i)
        name = f"{replies_dir_name}/{Path(rel).name}"
        sources["files"][name] = _fetch(RAW + rel, out / name)
    write_json(out / "sources.json", sources)
    log.info("fetched %d files of %s@%s", len(sources["files"]), REPO, COMMIT[:8])
    return sources
