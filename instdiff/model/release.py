"""The released InstanceDiffusion weights and the CLIP tokenizer: where they live and how they are fetched.

* ``instancediffusion_sd15.pth`` (13.6 GB) from the authors' Hugging Face repository, verified by SHA256, resumable;
  it holds the UNet (+ position net, fusers, ScaleU), the VAE and the CLIP text encoder (reference §2.1).
* the CLIP ViT-L/14 tokenizer files of ``openai/clip-vit-large-patch14`` at a pinned revision (the original's
  FrozenCLIPEmbedder and instance-text CLIPProcessor use this tokenizer).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from instdiff.errors import InputError

log = logging.getLogger(__name__)

CHECKPOINT_URL = "https://huggingface.co/xudongw/InstanceDiffusion/resolve/main/instancediffusion_sd15.pth"
CHECKPOINT_SHA256 = "b4de3f7877a1860b52837afe3a767ca92a2ef5084056048b503af80027cde1d1"
TOKENIZER_REPO = "openai/clip-vit-large-patch14"
TOKENIZER_REVISION = "32bd64288804d66eefd0ccbe215aa642df71cc41"
TOKENIZER_FILES = ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def fetch_verified(url: str, dest: str | Path, sha256: str) -> Path:
    """The project's generic verified downloader (``instdiff.download.fetch``: HTTP Range resume, retries,
    checksum, atomic rename); a requests-based equivalent is used while that module is not available."""
    try:
        from instdiff.download import fetch
    except ImportError:
        return _fetch_with_requests(url, dest, sha256)
    return fetch(url, dest, sha256=sha256)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def _fetch_with_requests(url: str, dest: str | Path, sha256: str, timeout: float = 60.0) -> Path:
    """Stream ``url`` into ``dest.part`` (resuming with a Range header), verify SHA256, rename onto ``dest``."""
    import requests
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and _sha256(dest) == sha256:
        return dest
    part = dest.with_name(dest.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={done}-"} if done else {}
    with requests.get(url, stream=True, timeout=timeout, headers=headers, allow_redirects=True) as r:
        if r.status_code == 416:  # the part file is already complete
            pass
        elif r.status_code not in (200, 206):
            raise InputError(url, f"download refused (HTTP {r.status_code})", "check the URL and the network")
        else:
            if r.status_code == 200:  # server ignored the Range header: start over
                done = 0
            total = int(r.headers.get("Content-Length", 0)) + done or None
            with part.open("ab" if done else "wb") as fh, tqdm(total=total, initial=done, unit="B",
                                                               unit_scale=True, desc=dest.name) as bar:
                for block in r.iter_content(chunk_size=1 << 20):
                    fh.write(block)
                    bar.update(len(block))
    got = _sha256(part)
    if got != sha256:
        part.unlink(missing_ok=True)
        raise InputError(dest, f"SHA256 mismatch (expected {sha256}, got {got})", f"rerun to download {url} again")
    os.replace(part, dest)
    return dest


def download_checkpoint(dest: str | Path) -> Path:
    """``instancediffusion_sd15.pth`` into ``dest``, SHA256-verified."""
    log.info("fetching %s -> %s", CHECKPOINT_URL, dest)
    return fetch_verified(CHECKPOINT_URL, dest, CHECKPOINT_SHA256)


def download_tokenizer(dest: str | Path) -> Path:
    """The CLIP tokenizer files at the pinned revision into the folder ``dest`` (written atomically)."""
    import shutil
    import tempfile

    from huggingface_hub import hf_hub_download

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp"))
    try:
        for name in TOKENIZER_FILES:
            hf_hub_download(TOKENIZER_REPO, name, revision=TOKENIZER_REVISION, local_dir=tmp)
        shutil.rmtree(tmp / ".cache", ignore_errors=True)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def download_release(checkpoint: str | Path, tokenizer_dir: str | Path) -> None:
    download_checkpoint(checkpoint)
    download_tokenizer(tokenizer_dir)
