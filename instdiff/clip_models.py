"""open_clip models for attribute binding: the release ViT-L-14 ``laion2b_s32b_b82k`` weights (downloaded from
their Hugging Face hub entry, SHA256 recorded) or a tiny random model for the smoke run.

Both are saved as a torch state-dict file with a JSON beside it (architecture, preprocessing, SHA256) and
loaded by :func:`load` through the same ``open_clip.create_model_and_transforms(arch, pretrained=path)``
call. The preprocessing (mean, std, interpolation, resize mode) is passed explicitly, because open_clip only
knows it from the pretrained *tag*, not from a file path: for ``laion2b_s32b_b82k`` it is mean = std = 0.5,
bicubic resize of the shortest side, centre crop (reference §5.3).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from instdiff import checkpoints
from instdiff.errors import InputError
from instdiff.io import atomic_path

log = logging.getLogger(__name__)

TINY_ARCH = "instdiff-tiny-clip"  # instdiff/assets/instdiff-tiny-clip.json, registered with open_clip
TINY_CONFIG = Path(__file__).parent / "assets" / f"{TINY_ARCH}.json"
# The tiny model uses the release model's preprocessing, so the smoke run exercises the same transform.
RELEASE_PREPROCESS = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "shortest"}


def _register_tiny() -> None:
    import open_clip

    if TINY_ARCH not in open_clip.list_models():
        open_clip.add_model_config(TINY_CONFIG)


def download(arch: str, tag: str, path: str | Path, expected_sha256: str | None = None,
             hub_cache: str | Path | None = None) -> dict:
    """Fetch ``arch``/``tag`` through open_clip's own downloader and save it as a state dict at ``path``.

    open_clip asks the Hugging Face hub for ``open_clip_model.safetensors`` first, then
    ``open_clip_pytorch_model.bin``. ``hub_cache`` is a Hugging Face cache folder to use (with ``HF_HUB_OFFLINE=1``
    a file already in it is found without the network); by default a temporary one, so nothing is left behind."""
    import open_clip
    import torch
    from open_clip.pretrained import download_pretrained

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        raise InputError(None, f"open_clip has no pretrained tag {tag!r} for {arch!r}", "check models.clip_attribute",
                         "models.clip_attribute")
    name = f"{arch}_{tag}"
    checkpoints.require_pin(expected_sha256, name, cfg.get("url") or cfg.get("hf_hub"))
    with tempfile.TemporaryDirectory() as tmp_cache:
        local = Path(download_pretrained(cfg, cache_dir=str(hub_cache or tmp_cache)))
        source_sha = checkpoints.verify(local, expected_sha256)  # the published file, before we re-save it
        if local.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(local))
        else:
            state = torch.load(local, map_location="cpu", weights_only=True)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    preprocess = {"mean": list(cfg["mean"]), "std": list(cfg["std"]), "interpolation": cfg.get("interpolation", "bicubic"),
                  "resize_mode": cfg.get("resize_mode", "shortest")}
    return checkpoints.record(path, arch=arch, pretrained=tag, source=cfg.get("hf_hub") or cfg.get("url"),
                              source_file=local.name, source_sha256=source_sha, preprocess=preprocess, kind="release")


def build_tiny(path: str | Path, seed: int = 0) -> dict:
    """A random tiny open_clip model (config shipped in the package) saved as a state dict at ``path``."""
    import open_clip
    import torch

    _register_tiny()
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model = open_clip.create_model(TINY_ARCH, pretrained=None)
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return checkpoints.record(path, arch=TINY_ARCH, pretrained=None, preprocess=RELEASE_PREPROCESS, kind="tiny", seed=seed)


def load(path: str | Path, device: str = "cpu"):
    """(model, val preprocess, tokenizer, arch) from a file written by :func:`download` or :func:`build_tiny`."""
    import open_clip

    path = Path(path)
    if not path.exists():
        raise InputError(path, "CLIP weights are missing", "run the rule that downloads or builds the CLIP model")
    meta = checkpoints.read_record(path)
    arch = meta["arch"]
    if arch == TINY_ARCH:
        _register_tiny()
    pre = meta["preprocess"]
    model, _, preprocess = open_clip.create_model_and_transforms(
        arch, pretrained=str(path), device=device, image_mean=tuple(pre["mean"]), image_std=tuple(pre["std"]),
        image_interpolation=pre["interpolation"], image_resize_mode=pre["resize_mode"],
    )
    return model, preprocess, open_clip.get_tokenizer(arch), arch


def encoder(path: str | Path, device: str = "cpu"):
    """An :class:`instdiff.metrics.attribute.OpenClipEncoder` for the weights at ``path``."""
    from instdiff.metrics.attribute import OpenClipEncoder

    model, preprocess, tokenizer, _ = load(path, device)
    return OpenClipEncoder(model, preprocess, tokenizer, device=device)
