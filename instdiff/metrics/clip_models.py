"""open_clip models: the release weights of attribute binding (ViT-L-14 ``laion2b_s32b_b82k``) and of the LLM
extension's global CLIP score (OpenAI ViT-B/32: ``ViT-B-32-quickgelu`` / ``openai``), downloaded from their Hugging
Face hub entry (SHA256 verified and recorded), or a tiny random model for the smoke run.

Each is a state-dict file (a torch file, or the hub's safetensors file kept byte for byte) with a JSON beside it
(architecture, preprocessing, SHA256, source), loaded by :func:`load` through the same
``open_clip.create_model_and_transforms(arch, pretrained=path)`` call. The preprocessing (mean, std,
interpolation, resize mode) is passed explicitly, because open_clip only knows it from the pretrained *tag*, not
from a file path: for ``laion2b_s32b_b82k`` it is mean = std = 0.5, bicubic resize of the shortest side, centre
crop (reference §5.3).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from instdiff.core import checkpoints
from instdiff.core.errors import InputError
from instdiff.data.hub import require_pinned
from instdiff.core.io import atomic_path

log = logging.getLogger(__name__)

TINY_ARCH = "instdiff-tiny-clip"  # instdiff/assets/instdiff-tiny-clip.json, registered with open_clip
TINY_CONFIG = Path(__file__).parents[1] / "assets" / f"{TINY_ARCH}.json"
# The tiny model uses the release model's preprocessing, so the smoke run exercises the same transform.
RELEASE_PREPROCESS = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "shortest"}
# What open_clip asks the hub for first (pretrained.download_pretrained_from_hf): a safetensors file loads no pickle.
HUB_WEIGHTS_FILE = "open_clip_model.safetensors"


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
    return checkpoints.record(path, arch=arch, pretrained=tag, source=cfg.get("hf_hub") or cfg.get("url"),
                              source_file=local.name, source_sha256=source_sha, preprocess=_preprocess(cfg),
                              kind="release")


def _preprocess(cfg: dict) -> dict:
    return {"mean": list(cfg["mean"]), "std": list(cfg["std"]), "interpolation": cfg.get("interpolation", "bicubic"),
            "resize_mode": cfg.get("resize_mode", "shortest")}


def release_preprocess(arch: str, tag: str, config_key: str) -> dict:
    """The preprocessing open_clip applies to ``arch``/``tag`` (mean, std, interpolation, resize mode)."""
    return _preprocess(hub_source(arch, tag, config_key)[0])


def hub_source(arch: str, tag: str, config_key: str) -> tuple[dict, str]:
    """open_clip's pretrained config of ``arch``/``tag`` and the hub repository it names; InputError when open_clip
    does not know the pair, or when the architecture would run the weights with the wrong activation.

    The OpenAI and several LAION weights were trained with QuickGELU; given a *file*, open_clip builds ``arch`` as
    configured and never compares it with the tag (it only warns for tags). ``ViT-B-32`` + ``openai`` weights
    would load without an error and score with GELU, so the pair is refused here, naming the right architecture."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        raise InputError(None, f"open_clip has no pretrained tag {tag!r} for {arch!r}",
                         f"use one of {open_clip.list_pretrained_tags_by_model(arch)}", config_key)
    arch_quick = bool((open_clip.get_model_config(arch) or {}).get("quick_gelu", False))
    if bool(cfg.get("quick_gelu", False)) != arch_quick:
        right = f"{arch}-quickgelu" if not arch_quick else arch.removesuffix("-quickgelu")
        raise InputError(None, f"the {tag!r} weights were trained with quick_gelu={bool(cfg.get('quick_gelu'))} but "
                         f"{arch!r} builds quick_gelu={arch_quick}: loaded from a file they would score silently wrong",
                         f"set the architecture to {right!r}", config_key)
    if not cfg.get("hf_hub"):
        raise InputError(None, f"open_clip names no Hugging Face hub entry for {arch}/{tag}",
                         "choose weights that open_clip fetches from the hub", config_key)
    org, name = cfg["hf_hub"].split("/")[:2]  # "org/name/" or "org/name/file"
    return cfg, f"{org}/{name}"


def install_verified(source: str | Path, path: str | Path, expected_sha256: str | None, what: str) -> str:
    """Copy the published file ``source`` to ``path`` byte for byte once its SHA256 equals the pin; the digest.

    One InputError naming the file (``what``: the repo, commit and file name it came from) when the pin is missing or
    differs; nothing is written then."""
    digest = checkpoints.sha256(source)
    if not expected_sha256 or digest != expected_sha256.lower():
        raise InputError(path, f"SHA256 of {what} is {digest}, the config pins {expected_sha256!r}",
                         "if you audited this file, set the pin to its sha256; otherwise delete the download and "
                         "check where it came from")
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
    return digest


def download_pinned(arch: str, tag: str, path: str | Path, revision: str | None, expected_sha256: str | None,
                    config_prefix: str, hub_cache: str | Path | None = None) -> dict:
    """open_clip's hub file for ``arch``/``tag`` at the pinned commit ``revision``, verified against
    ``expected_sha256`` and kept as published (``path`` ends like the file: ``.safetensors``), with its record.

    ``config_prefix`` is the config section (``llm.clip``) whose keys the errors name. Nothing is fetched before the
    source is pinned; ``hub_cache`` as in :func:`download`."""
    from huggingface_hub import hf_hub_download

    cfg, repo = hub_source(arch, tag, f"{config_prefix}.arch")
    commit = require_pinned(repo, revision, f"{config_prefix}.revision")
    if not expected_sha256:
        raise InputError(None, f"no pinned SHA256 for {repo}@{commit}/{HUB_WEIGHTS_FILE}",
                         "download it once, check it, and set the `sha256sum` (64 hex digits)",
                         f"{config_prefix}.sha256")
    with tempfile.TemporaryDirectory() as tmp_cache:
        local = hf_hub_download(repo_id=repo, filename=HUB_WEIGHTS_FILE, revision=commit,
                                cache_dir=str(hub_cache or tmp_cache))
        digest = install_verified(local, path, expected_sha256, f"{repo}@{commit}/{HUB_WEIGHTS_FILE}")
    return checkpoints.record(path, arch=arch, pretrained=tag, source=repo, revision=commit,
                              source_file=HUB_WEIGHTS_FILE, source_sha256=digest, preprocess=_preprocess(cfg),
                              kind="release")


def build_tiny(path: str | Path, seed: int = 0, preprocess: dict | None = None) -> dict:
    """A random tiny open_clip model (config shipped in the package) saved as a state dict at ``path``: a
    safetensors file when ``path`` ends in ``.safetensors`` (the hub's format), else a torch file. ``preprocess``
    is the real model's (default: the attribute model's), so the smoke run exercises the same transform."""
    import open_clip
    import torch

    _register_tiny()
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model = open_clip.create_model(TINY_ARCH, pretrained=None)
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(model.state_dict(), str(tmp))
        else:
            torch.save(model.state_dict(), tmp)
    return checkpoints.record(path, arch=TINY_ARCH, pretrained=None, preprocess=preprocess or RELEASE_PREPROCESS,
                              kind="tiny", seed=seed)


def load(path: str | Path, device: str = "cpu"):
    """(model, val preprocess, tokenizer, arch) from a file written by :func:`download`, :func:`download_pinned`
    or :func:`build_tiny`: a local file, so open_clip never reaches the network."""
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
