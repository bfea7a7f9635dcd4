"""GLIGEN (Li et al., CVPR 2023) as a second generator, through diffusers' ``StableDiffusionGLIGENPipeline``.

The release is ``masterful/gligen-1-4-generation-text-box`` (GLIGEN's box+text model on SD 1.4, in diffusers' own
folder format), fetched at a pinned commit by rule hub_snapshot; the smoke loads a tiny random pipeline saved in the
same format (:mod:`instdiff.model.tiny_gligen`). Both are loaded by ``from_pretrained``.

An image of a layout, as InstanceDiffusion's box experiment makes it (same layouts, per-image seeds, steps, guidance
scale and negative prompt; docs/models.md lists every difference):

- prompt: the layout caption; negative prompt: ``generation.negative_prompt``; guidance: the experiment's scale;
- grounding: each instance's phrase and its normalised ``[x0, y0, x1, y1]`` box (the layouts' own format, which is
  GLIGEN's); the first 30 instances, boxes clipped to the canvas (:func:`instdiff.generation.pipeline.prepare_layout`,
  the same notes as InstanceDiffusion; diffusers also keeps 30);
- scheduled sampling: the gated self-attention is on for the first ``int(alpha * len(timesteps))`` scheduler steps
  (diffusers' ``gligen_scheduled_sampling_beta``; GLIGEN's default 0.3);
- initial noise: ``torch.randn((1, 4, 64, 64))`` from a CPU generator seeded with the image's seed, handed to the
  pipeline as ``latents``: InstanceDiffusion's x_T for the same seed;
- sampler: the scheduler the model folder ships (the release: diffusers' conversion script writes DDIM), not
  InstanceDiffusion's PLMS; decoding and uint8 conversion are diffusers' (rounding, where InstanceDiffusion
  truncates); no safety checker (a blacked-out image would be scored as a failed layout);
- a layout without instances: diffusers' pipeline cannot take an empty phrase list, so the image is made with the
  fuser off for every step (plain SD from the caption; the layout's note says it had no instances).

Precision (``generation.precision``): fp32 as is; autocast-fp16 runs the pipeline under fp16 autocast with float32
weights (text encoder and VAE included, unlike InstanceDiffusion's float32 islands); bf16 loads every weight in bf16.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import torch

from instdiff.core.device import resolve_device
from instdiff.core.errors import InputError
from instdiff.core.layout import Layout
from instdiff.generation.pipeline import OUTPUT_SIZE, PipelineOutput, prepare_layout
from instdiff.generation.settings import GenerationSettings
from instdiff.model.gligen_class import gligen_pipeline_class
from instdiff.model.precision import Precision

log = logging.getLogger(__name__)

LATENT_CHANNELS = 4


class GligenPipeline:
    """The generator interface (:mod:`instdiff.generation.generators`) around a ``StableDiffusionGLIGENPipeline``."""

    def __init__(self, pipe, precision: "str | Precision" = "fp32"):
        self.pipe = pipe
        self.precision = Precision.named(precision)
        pipe.set_progress_bar_config(disable=True)

    @classmethod
    def from_folder(cls, folder, precision: "str | Precision" = "fp32", device: str | torch.device | None = None,
                    refiner: str | None = None) -> "GligenPipeline":
        """Load a diffusers GLIGEN folder (the release snapshot or the tiny stand-in) with ``from_pretrained``."""
        if refiner:
            raise InputError(None, "GLIGEN has no SDXL refiner cascade", "remove the experiment's refiner", "refiner")
        precision = Precision.named(precision)
        dtype = torch.bfloat16 if precision.name == "bf16" else torch.float32
        if folder is None or not (Path(folder) / "model_index.json").is_file():
            raise InputError(folder, "not a diffusers pipeline folder (no model_index.json)",
                             "point the experiment at a GLIGEN snapshot (rule hub_snapshot) or the tiny stand-in")
        pipe = gligen_pipeline_class().from_pretrained(
            str(folder), dtype=dtype, safety_checker=None, feature_extractor=None,
            requires_safety_checker=False, local_files_only=True,
        )
        pipe = pipe.to(torch.device(resolve_device(device)))
        return cls(pipe, precision)

    @property
    def device(self) -> torch.device:
        return self.pipe.device

    def prepare_latents(self, seed: int) -> torch.Tensor:
        """x_T on the CPU generator in float32 (InstanceDiffusion's), moved to the device in the pipeline's dtype."""
        size = OUTPUT_SIZE // self.pipe.vae_scale_factor
        generator = torch.Generator("cpu").manual_seed(int(seed))
        x = torch.randn((1, LATENT_CHANNELS, size, size), generator=generator, dtype=torch.float32)
        return x.to(self.device, self.pipe.unet.dtype)

    @torch.no_grad()
    def __call__(self, layout: Layout, settings: GenerationSettings | None = None, seed: int | None = None,
                 output_type: str = "pil") -> PipelineOutput:
        settings = settings or GenerationSettings(location="box", alpha=0.3, mis=0.0)
        if settings.location != "box":
            raise InputError(None, f"GLIGEN takes box layouts only, got location {settings.location!r}",
                             "set the experiment's location to box", "location")
        t0 = time.perf_counter()
        layout, notes = prepare_layout(layout)
        phrases = [inst.phrase for inst in layout.instances]
        boxes = [[float(v) for v in inst.box] for inst in layout.instances]
        beta = settings.alpha
        if not phrases:
            # diffusers tokenizes the phrase list and cannot take an empty one; with the fuser off for every step
            # the one placeholder phrase has no effect on the image.
            # prepare_layout's note ("no instances: ... null grounding") already says so, as a reused image's does.
            phrases, boxes, beta = [""], [[0.0, 0.0, 0.0, 0.0]], 0.0
        latents = self.prepare_latents(0 if seed is None else seed)
        t1 = time.perf_counter()
        with self.precision.autocast(self.device):
            out = self.pipe(
                prompt=layout.caption or "", height=OUTPUT_SIZE, width=OUTPUT_SIZE,
                num_inference_steps=settings.steps, guidance_scale=settings.guidance_scale,
                gligen_scheduled_sampling_beta=beta, gligen_phrases=phrases, gligen_boxes=boxes,
                negative_prompt=settings.negative_prompt or None, latents=latents, output_type=output_type,
            )
        t2 = time.perf_counter()
        timings = {"prepare_s": t1 - t0, "sample_s": t2 - t1}
        images = list(out.images) if output_type == "pil" else []
        return PipelineOutput(images, latents, timings=timings, notes=notes)

    def generate_group(self, layouts: Sequence[Layout], settings: GenerationSettings | None = None,
                       seeds: Sequence[int] | None = None) -> list[PipelineOutput]:
        """One image per layout, one after another: diffusers' GLIGEN pipeline grounds every prompt of a batch with
        the same boxes, so layouts with different boxes cannot share its UNet calls. The images equal ``self(...)``."""
        seeds = list(seeds) if seeds is not None else [0] * len(layouts)
        return [self(lay, settings, seed=s) for lay, s in zip(layouts, seeds)]
