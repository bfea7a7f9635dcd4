"""Global CLIP score of each image against its caption (the extension's ``eval_clip.py``, done properly).

Definition (as the extension reported it): score(image, caption) = cos(f_img(image), f_txt(caption)), the cosine of
the L2-normalised OpenAI CLIP ViT-B/32 image and text features; raw, not multiplied by 100 and not clipped at 0.
The set's value is the mean over images, with the sample SD and a percentile bootstrap CI of the mean (seeded
resampling of images). The model is loaded once and images are encoded in batches (the extension reloaded CLIP for
every image).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from instdiff.stats import bootstrap_mean_ci

log = logging.getLogger(__name__)

TINY_CLIP_NAME = "instdiff-tiny-clip"
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def build_tiny_clip(out_dir: str | Path, seed: int = 0) -> dict[str, str]:
    """A random ~1.7 M-parameter open_clip model for the smoke run: its config JSON and a state-dict ``.pt``.

    Returns the settings that :func:`load_clip` needs (``arch``, ``pretrained``, ``model_config``)."""
    import open_clip
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / f"{TINY_CLIP_NAME}.json"
    config_path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config_path)
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_CLIP_NAME, pretrained=None)
    weights = out / "open_clip_model.pt"
    torch.save(model.state_dict(), weights)
    settings = {"arch": TINY_CLIP_NAME, "pretrained": weights.name, "model_config": config_path.name}
    (out / "clip_settings.json").write_text(json.dumps(settings))
    return settings


def load_clip(settings: dict[str, Any], device: str = "cpu"):
    """(model, preprocess, tokenizer) for ``settings`` = {arch, pretrained[, model_config]} or {local_dir}.

    ``pretrained`` is an open_clip tag (``openai``) or a local weights file; ``model_config`` registers a custom
    architecture before loading. ``local_dir`` is a folder written by :func:`build_tiny_clip` (its
    ``clip_settings.json`` names the files inside it)."""
    import open_clip

    if settings.get("local_dir"):
        local = Path(settings["local_dir"])
        stored = json.loads((local / "clip_settings.json").read_text())
        settings = {**settings, "arch": stored["arch"], "pretrained": str(local / stored["pretrained"]),
                    "model_config": str(local / stored["model_config"])}
    if settings.get("model_config"):
        open_clip.add_model_config(Path(settings["model_config"]))
    model, _, preprocess = open_clip.create_model_and_transforms(settings["arch"], pretrained=settings["pretrained"], device=device)
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(settings["arch"])


def clip_scores(images: Sequence, captions: Sequence[str], model, preprocess, tokenizer, batch_size: int = 32, device: str = "cpu") -> np.ndarray:
    """Cosine between each image (PIL or path) and its caption; one value per pair."""
    import torch
    from PIL import Image

    if len(images) != len(captions):
        raise ValueError("one caption per image")
    scores = []
    for start in tqdm(range(0, len(images), batch_size), desc="clip score", unit="batch"):
        batch = []
        for item in images[start : start + batch_size]:
            if isinstance(item, (str, Path)):
                with Image.open(item) as im:
                    batch.append(preprocess(im.convert("RGB")))
            else:
                batch.append(preprocess(item.convert("RGB")))
        pixels = torch.stack(batch).to(device)
        tokens = tokenizer(list(captions[start : start + batch_size])).to(device)
        with torch.no_grad():
            f_img = torch.nn.functional.normalize(model.encode_image(pixels).float(), dim=-1)
            f_txt = torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1)
        scores.append((f_img * f_txt).sum(-1).cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0)


def mean_with_ci(values: Sequence[float], n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, float | None]:
    """Mean, sample SD (ddof=1) and the percentile bootstrap CI of the mean (:func:`instdiff.stats.bootstrap_mean_ci`,
    ``n_boot`` resamples, seeded; one image gives its own score as the interval)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"mean": None, "sd": None, "ci_low": None, "ci_high": None, "n": 0}
    iv = bootstrap_mean_ci(x, level=level, resamples=n_boot, seed=seed, min_n=1)
    return {
        "mean": iv.value,
        "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "ci_low": iv.low,
        "ci_high": iv.high,
        "n": iv.n,
    }
