"""Global CLIP score of each image against its caption (the extension's ``eval_clip.py``, done properly).

Definition (as the extension reported it): score(image, caption) = cos(f_img(image), f_txt(caption)), the cosine of
the L2-normalised OpenAI CLIP ViT-B/32 image and text features; raw, not multiplied by 100 and not clipped at 0.
The set's value is the mean over images, with the sample SD and a percentile bootstrap CI of the mean (seeded
resampling of images). The model is loaded once and images are encoded in batches (the extension reloaded CLIP for
every image).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from instdiff.core.errors import InputError
from instdiff.core.stats import bootstrap_mean_ci

log = logging.getLogger(__name__)


def load_clip(settings: dict[str, Any], device: str = "cpu"):
    """(model, preprocess, tokenizer) from ``settings["weights"]``: a local open_clip weights file with its record
    beside it (``instdiff.metrics.clip_models``: the pinned hub download of rule llm_clip_download, or the smoke's tiny model
    in the same format).

    Only a local file is accepted: a pretrained *tag* would make open_clip download inside the compute job, which
    compute nodes often cannot, and which would bypass the pinned commit and checksum."""
    from instdiff.metrics.clip_models import load

    weights = settings.get("weights")
    if not weights:
        raise InputError(None, f"no local CLIP weights file (settings {sorted(settings)})",
                         "pass the file rule llm_clip_download (or llm_tiny_clip) wrote as settings['weights']",
                         "weights")
    model, preprocess, tokenizer, _ = load(weights, device)
    model.eval()
    return model, preprocess, tokenizer


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
    """Mean, sample SD (ddof=1) and the percentile bootstrap CI of the mean (:func:`instdiff.core.stats.bootstrap_mean_ci`,
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
