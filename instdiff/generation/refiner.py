"""The SDXL refiner cascade of ``inference.py`` (``--cascade_strength``): a diffusers
``StableDiffusionXLImg2ImgPipeline`` run on the generated image with the global caption.

:class:`instdiff.generation.pipeline.InstanceDiffusionPipeline` loads it with :func:`load_refiner` (``from_folder(refiner=...)``)
and runs :func:`refine` after decoding when ``refiner_strength > 0``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from PIL import Image


def load_refiner(name_or_path: str, dtype: torch.dtype, device: torch.device):
    """Load the SDXL refiner once (``stabilityai/stable-diffusion-xl-refiner-1.0`` in the original)."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    kwargs: dict[str, Any] = {"torch_dtype": dtype, "use_safetensors": True}
    if dtype == torch.float16:
        kwargs["variant"] = "fp16"
    try:
        pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError):
        kwargs.pop("variant", None)  # a local folder saved without the fp16 variant files
        pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(name_or_path, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def refine(refiner, prompt: str, images: Sequence[Image.Image], strength: float, steps: int,
           generator: torch.Generator) -> list[Image.Image]:
    """The cascade of ``inference.py``: img2img with the global caption, ``strength``, ``steps`` steps, defaults
    otherwise (no negative prompt), but seeded (the original passed no generator, so its output was random)."""
    out = refiner(prompt=[prompt] * len(images), image=list(images), strength=strength, num_inference_steps=steps,
                  generator=generator)
    return list(out.images)
