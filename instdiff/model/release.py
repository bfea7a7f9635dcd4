"""The released InstanceDiffusion weights and the CLIP tokenizer: where they live and how they are fetched.

* ``instancediffusion_sd15.pth`` (13.6 GB) from the authors' Hugging Face repository, verified by SHA256, resumable;
  it holds the UNet (+ position net, fusers, ScaleU), the VAE and the CLIP text encoder (reference §2.1).
* the CLIP ViT-L/14 tokenizer files of ``openai/clip-vit-large-patch14`` at a pinned revision (the original's
  FrozenCLIPEmbedder and instance-text CLIPProcessor use this tokenizer).
"""

from __future__ import annotations

import logging
from pathlib import Path

from instdiff.data.download import fetch
from instdiff.core.io import atomic_dir

log = logging.getLogger(__name__)

CHECKPOINT_URL = "https://huggingface.co/xudongw/InstanceDiffusion/resolve/main/instancediffusion_sd15.pth"
# For the pre-run disk check only (instdiff preflight): the 13.6 GB the hub page states (reference notes, §2: model,
# ema and optimizer state of the UNet, VAE and text encoder add up to it).
CHECKPOINT_SIZE = 13_600_000_000
CHECKPOINT_SHA256 = "b4de3f7877a1860b52837afe3a767ca92a2ef5084056048b503af80027cde1d1"
TOKENIZER_REPO = "openai/clip-vit-large-patch14"
TOKENIZER_REVISION = "32bd64288804d66eefd0ccbe215aa642df71cc41"
TOKENIZER_FILES = ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def download_checkpoint(dest: str | Path) -> Path:
    """``instancediffusion_sd15.pth`` into ``dest``, SHA256-verified."""
    log.info("fetching %s -> %s", CHECKPOINT_URL, dest)
    return fetch(CHECKPOINT_URL, dest, sha256=CHECKPOINT_SHA256)


def download_tokenizer(dest: str | Path) -> Path:
    """The CLIP tokenizer files at the pinned revision into the folder ``dest`` (written atomically)."""
    import shutil

    from huggingface_hub import hf_hub_download

    dest = Path(dest)
    with atomic_dir(dest) as tmp:
        for name in TOKENIZER_FILES:
            hf_hub_download(TOKENIZER_REPO, name, revision=TOKENIZER_REVISION, local_dir=tmp)
        shutil.rmtree(tmp / ".cache", ignore_errors=True)
    return dest


def download_release(checkpoint: str | Path, tokenizer_dir: str | Path) -> None:
    download_checkpoint(checkpoint)
    download_tokenizer(tokenizer_dir)
