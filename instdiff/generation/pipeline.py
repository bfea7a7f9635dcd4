"""``InstanceDiffusionPipeline``: layout in, image out, in the style of diffusers pipelines.

Components are passed in (``unet``, ``vae``, ``text_encoder``, ``tokenizer``, optional SDXL ``refiner``);
:meth:`InstanceDiffusionPipeline.from_folder` loads them from a converted model folder. One call generates one
image for one :class:`~instdiff.core.layout.Layout`; the loop in :func:`instdiff.generation.sampler.sample` is the original's PLMS
with classifier-free guidance, alpha schedule and multi-instance sampler.

What the original does and we keep (``inference.py`` / ``eval_local.py``):

- prompt context: CLIP ``last_hidden_state`` of the prompt padded to 77 tokens; the negative prompt likewise;
- instance text: the pooled CLIP text embedding of each phrase (``pooler_output``), in ``positive_embeddings``;
- initial noise: ``torch.randn(1, 4, H/8, W/8)`` from a CPU generator (then moved to the device), here seeded
  per image with ``derive_seed(run_seed, experiment, image_id)`` so images do not depend on sharding;
- precision (``generation.precision``, :mod:`instdiff.model.precision`): ``autocast-fp16`` is ``inference.py``'s
  (fp32 weights, the UNet under fp16 autocast, fp16 ε combined by guidance and PLMS, float32 latents), ``fp32`` is
  ``eval_local.py``'s, ``bf16`` our fast mode; the text encoder and the VAE are float32 outside autocast in every
  mode; decode with 1/0.18215, clamp to [−1, 1], (x+1)/2·255 and TRUNCATION to uint8 as the original;
- output 512×512 whatever the layout's canvas (a 768×512 demo layout is squeezed, as the original).

Layouts are sanitised first (:func:`prepare_layout`): more than 30 instances keep the first 30 (the original's
``max_objs``), coordinates outside the canvas are clipped to [0, 1]; every change is recorded in the returned notes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from instdiff.core.device import resolve_device
from instdiff.core.errors import InputError
from instdiff.generation.settings import GenerationSettings
from instdiff.core.layout import Layout
from instdiff.model.precision import Precision
from instdiff.core.original_constants import LATENT_SCALE, MAX_OBJS, TEXT_EMBED_DIM
from instdiff.generation.refiner import load_refiner, refine
from instdiff.generation.sampler import ChainCondition, SamplerSettings, SamplerTrace, sample, sample_group

log = logging.getLogger(__name__)

OUTPUT_SIZE = 512


@dataclass
class PipelineOutput:
    images: list[Image.Image]
    latents: torch.Tensor
    refined: list[Image.Image] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    trace: SamplerTrace | None = None


# --------------------------------------------------------------------------------------------- layout checks


def _clip01(v: float) -> float:
    return min(1.0, max(0.0, v))


def prepare_layout(layout: Layout, max_instances: int = MAX_OBJS) -> tuple[Layout, list[str]]:
    """The layout the model sees, plus notes on what was changed.

    - more than ``max_instances`` instances: the first ``max_instances`` are kept (the original's 30 slots);
    - box corners, points, scribble and polygon points outside [0, 1] are clipped to the canvas;
    - a box with non-finite numbers or x1 < x0 / y1 < y0 is an :class:`InputError`.
    The global caption is unchanged (the original builds it before truncation).
    """
    notes: list[str] = []
    instances = list(layout.instances)
    if len(instances) > max_instances:
        notes.append(f"truncated {len(instances)} instances to the first {max_instances}")
        instances = instances[:max_instances]
    out = []
    for i, inst in enumerate(instances):
        box = tuple(float(v) for v in inst.box)
        if not all(math.isfinite(v) for v in box) or box[2] < box[0] or box[3] < box[1]:
            raise InputError(
                layout.meta.get("source") or layout.id, f"invalid box {list(box)} (needs x0<=x1, y0<=y1, finite)",
                "write boxes as normalised [x0, y0, x1, y1]", f"instances[{i}].box",
            )
        clipped = tuple(_clip01(v) for v in box)
        changes: dict[str, Any] = {}
        if clipped != box:
            notes.append(f"instance {i}: box {list(box)} clipped to the canvas {list(clipped)}")
            changes["box"] = clipped
        for name in ("point",):
            p = getattr(inst, name)
            if p is not None and any(not 0.0 <= v <= 1.0 for v in p):
                notes.append(f"instance {i}: {name} clipped to the canvas")
                changes[name] = (_clip01(p[0]), _clip01(p[1]))
        for name in ("scribble", "polygon"):
            pts = getattr(inst, name)
            if pts is not None and any(not 0.0 <= v <= 1.0 for p in pts for v in p):
                notes.append(f"instance {i}: {name} points clipped to the canvas")
                changes[name] = [(_clip01(x), _clip01(y)) for x, y in pts]
        out.append(dataclasses.replace(inst, **changes) if changes else inst)
    if not out:
        notes.append("no instances: generated from the caption alone (null grounding, one chain)")
    return dataclasses.replace(layout, instances=out), notes


# --------------------------------------------------------------------------------------------- the pipeline


class InstanceDiffusionPipeline:
    """InstanceDiffusion inference: CLIP text, instance grounding, PLMS + CFG + alpha + MIS, VAE decode.

    ``unet(sample, timestep, encoder_hidden_states, grounding, gate_scale) -> eps`` is the InstanceDiffusion UNet
    (``grounding`` a dict of (B, 30, …) tensors, ``None`` for the null input); ``vae`` a diffusers
    ``AutoencoderKL``; ``text_encoder`` / ``tokenizer`` CLIP ViT-L/14 text; ``refiner`` an optional diffusers
    ``StableDiffusionXLImg2ImgPipeline``.
    """

    def __init__(self, unet, vae, text_encoder, tokenizer, refiner=None, precision: "str | Precision" = "fp32"):
        self.unet = unet
        self.vae = vae
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.refiner = refiner
        self.precision = Precision.named(precision)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_folder(cls, folder, precision: "str | Precision" = "fp32", device: str | torch.device | None = None,
                    refiner: str | None = None) -> "InstanceDiffusionPipeline":
        """Load a converted model folder (``instdiff.model.load_components``) and optionally the SDXL refiner; the
        UNet gets the precision mode's weight dtype, the VAE and the text encoder stay float32."""
        from instdiff.model.convert import load_components

        precision = Precision.named(precision)
        device = torch.device(resolve_device(device))
        comps = load_components(folder, dtype=torch.float32, device=device)
        unet = precision.prepare_unet(comps["unet"])
        ref = load_refiner(refiner, precision.refiner_dtype, device) if refiner else None
        return cls(unet, comps["vae"], comps["text_encoder"], comps["tokenizer"], refiner=ref, precision=precision)

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    # ------------------------------------------------------------------ pieces

    def encode_prompt(self, prompts: Sequence[str]) -> torch.Tensor:
        """CLIP context (n, 77, D): ``last_hidden_state`` of the prompts padded / truncated to 77 tokens."""
        from instdiff.model.text import encode_prompts

        return encode_prompts(self.text_encoder, self.tokenizer, list(prompts))

    def encode_phrases(self, phrases: Sequence[str]) -> torch.Tensor:
        """Pooled CLIP text embedding (n, D) of each instance phrase (``pooler_output``, as ``get_clip_feature``)."""
        from instdiff.model.text import pooled_phrase_embeddings

        return pooled_phrase_embeddings(self.text_encoder, self.tokenizer, list(phrases))

    def prepare_latents(self, generator: torch.Generator, height: int = OUTPUT_SIZE, width: int = OUTPUT_SIZE,
                        channels: int = 4) -> torch.Tensor:
        """x_T drawn on the CPU generator in float32 (as ``inference.py``), then moved to the device."""
        shape = (1, channels, height // 8, width // 8)
        return torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> list[Image.Image]:
        """1/0.18215 · z → VAE decoder → clamp [−1, 1] → (x+1)/2·255 → uint8 by truncation (the original)."""
        vae_dtype = next(self.vae.parameters()).dtype
        x = self.vae.decode(latents.to(vae_dtype) / LATENT_SCALE).sample.float()
        x = torch.clamp(x, -1.0, 1.0) * 0.5 + 0.5
        arr = (x.cpu().permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
        return [Image.fromarray(a) for a in arr]

    def denoiser(self) -> Callable:
        """The UNet as the sampler's denoiser, in the precision mode's autocast: x and the contexts cast to the UNet's
        weight dtype, grounding left float32 (its Fourier features are a float32 island), ε as the mode hands it on.

        It also offers ``prepare_grounding``: the instance tokens depend on neither x nor t, so the sampler runs
        the tokenizer (its ConvNeXt sees 30 masks of 512x512 per row) once per chain instead of at every step.
        """
        return _UNetDenoiser(self.unet, self.precision)

    def conditions(self, layout: Layout, settings: GenerationSettings) -> tuple[ChainCondition, list[ChainCondition]]:
        """The global chain's and each instance chain's (context, grounding) for a prepared layout.

        Grounding tensors come from :mod:`instdiff.generation.conditioning` (``prepare_batch``); the instance chains (only
        needed with MIS) get their instance alone in slot 0 and their phrase as prompt.
        """
        from instdiff.generation.conditioning import grounding_inputs, instance_inputs

        phrases = [inst.phrase for inst in layout.instances]
        unique = sorted(set(phrases))
        emb = self.encode_phrases(unique).float().cpu().numpy() if unique else np.zeros((0, TEXT_EMBED_DIM), np.float32)
        # instdiff.generation.conditioning stores 768-wide rows (CLIP ViT-L/14); a narrower text tower (the tiny smoke model) is
        # zero-padded there and cut back in model_grounding, which is exact.
        cache = {p: np.pad(e, (0, max(0, TEXT_EMBED_DIM - e.shape[0]))) for p, e in zip(unique, emb)}

        def embed(ps: list[str]) -> np.ndarray:
            return np.stack([cache[p] for p in ps])

        with_instances = settings.mis > 0 and bool(phrases)
        contexts = self.encode_prompt([layout.caption] + (phrases if with_instances else []))
        g = grounding_inputs(layout, settings.location, embed)
        global_cond = ChainCondition(contexts[:1], self.model_grounding(g))
        inst: list[ChainCondition] = []
        if with_instances:
            for k, gi in enumerate(instance_inputs(layout, settings.location, embed)):
                inst.append(ChainCondition(contexts[k + 1 : k + 2], self.model_grounding(gi)))
        return global_cond, inst

    def model_grounding(self, g: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """``prepare_batch`` arrays (no batch axis) -> the UNet's grounding dict (batch 1, float32, on device)."""
        keys = {"boxes": "boxes", "masks": "masks", "positive_embeddings": "text_embeddings", "scribbles": "scribbles",
                "polygons": "polygons", "segs": "segs", "points": "points"}
        out = {k: torch.from_numpy(np.ascontiguousarray(g[src]))[None].to(self.device, torch.float32)
               for k, src in keys.items()}
        width = self.text_encoder.config.hidden_size
        if width < out["positive_embeddings"].shape[-1]:
            out["positive_embeddings"] = out["positive_embeddings"][..., :width].contiguous()
        return out

    # ------------------------------------------------------------------ the call

    @torch.no_grad()
    def __call__(
        self,
        layout: Layout,
        settings: GenerationSettings | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        output_type: str = "pil",
        trace: bool = False,
    ) -> PipelineOutput:
        """Generate one image for ``layout``. Give a CPU ``generator`` or a ``seed`` (defaults to seed 0)."""
        settings = settings or GenerationSettings()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()

        # 1. Layout the model can take (≤ 30 instances, coordinates on the canvas).
        layout, notes = prepare_layout(layout)

        # The test config (box / mask / point / scribble) sets which location inputs the instance tokenizer drops.
        if hasattr(self.unet, "set_location"):
            self.unet.set_location(settings.location)

        # 2. Text: the prompt and instance captions (chain contexts), the negative prompt, the instance grounding.
        global_cond, instance_conds = self.conditions(layout, settings)
        uncond_context = self.encode_prompt([settings.negative_prompt])

        # 3. Initial noise from a CPU generator, shared by every MIS chain.
        if generator is None:
            generator = torch.Generator("cpu").manual_seed(0 if seed is None else int(seed))
        latents = self.prepare_latents(generator)
        timings["prepare_s"] = time.perf_counter() - t0

        # 4. PLMS with CFG, the alpha schedule and the multi-instance sampler.
        t1 = time.perf_counter()
        sampler_settings = _sampler_settings(settings)
        sampler_trace = SamplerTrace() if trace else None
        latents = sample(
            self.denoiser(), latents, global_cond, instance_conds, uncond_context, sampler_settings,
            trace=sampler_trace,
        )
        timings["sample_s"] = time.perf_counter() - t1
        if output_type == "latent":
            return PipelineOutput([], latents, timings=timings, notes=notes, trace=sampler_trace)

        out = self._finish(latents, layout, settings, generator, timings, notes)
        out.trace = sampler_trace
        return out

    def _finish(self, latents: torch.Tensor, layout: Layout, settings: GenerationSettings,
                generator: torch.Generator, timings: dict[str, float], notes: list[str]) -> PipelineOutput:
        # 5. Decode to a 512×512 image.
        t2 = time.perf_counter()
        images = self.decode_latents(latents)
        timings["decode_s"] = time.perf_counter() - t2

        # 6. Optional SDXL refiner cascade, seeded from the same generator stream.
        refined: list[Image.Image] = []
        if settings.refiner_strength > 0:
            if self.refiner is None:
                raise ValueError("refiner_strength > 0 but the pipeline has no refiner (from_folder(refiner=...))")
            t3 = time.perf_counter()
            refined = refine(self.refiner, layout.caption, images, settings.refiner_strength, settings.refiner_steps,
                             generator)
            timings["refine_s"] = time.perf_counter() - t3
        return PipelineOutput(images, latents, refined=refined, timings=timings, notes=notes)

    @torch.no_grad()
    def generate_group(self, layouts: Sequence[Layout], settings: GenerationSettings | None = None,
                       seeds: Sequence[int] | None = None, refill: bool = False) -> list[PipelineOutput]:
        """One image per layout, the layouts sampled together (:func:`instdiff.generation.sampler.sample_group`).

        Each image keeps its own seed, conditions and MIS chains, so it matches ``self(layout, seed=...)`` up to
        the UNet's batch effects. With ``refill`` and ``settings.max_batch``, the group's next images start as
        the rows of earlier ones free up (:mod:`instdiff.generation.row_scheduler`). Timings are the group's, divided evenly
        among its images.
        """
        settings = settings or GenerationSettings()
        seeds = list(seeds) if seeds is not None else [0] * len(layouts)
        t0 = time.perf_counter()
        prepared = [prepare_layout(lay) for lay in layouts]
        if hasattr(self.unet, "set_location"):
            self.unet.set_location(settings.location)
        conds = [self.conditions(lay, settings) for lay, _ in prepared]
        uncond_context = self.encode_prompt([settings.negative_prompt])
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        x_Ts = [self.prepare_latents(g) for g in generators]
        t1 = time.perf_counter()
        latents = sample_group(self.denoiser(), x_Ts, [c[0] for c in conds], [c[1] for c in conds], uncond_context,
                               dataclasses.replace(_sampler_settings(settings), refill=refill))
        t2 = time.perf_counter()
        n = len(layouts)
        outs = []
        for (lay, notes), lat, gen in zip(prepared, latents, generators):
            timings = {"prepare_s": (t1 - t0) / n, "sample_s": (t2 - t1) / n}
            outs.append(self._finish(lat, lay, settings, gen, timings, notes))
        return outs


def _sampler_settings(settings: GenerationSettings) -> SamplerSettings:
    return SamplerSettings(
        steps=settings.steps, guidance_scale=settings.guidance_scale, alpha=settings.alpha, mis=settings.mis,
        batched=settings.batched, max_batch=settings.max_batch,
    )


# --------------------------------------------------------------------------------------------- denoiser


class _UNetDenoiser:
    def __init__(self, unet, precision: Precision):
        self.unet, self.precision = unet, precision
        self.dtype = precision.unet_dtype
        if not hasattr(unet, "encode_grounding"):  # a UNet without a separate tokenizer step: tokenize every call
            self.prepare_grounding = None

    def prepare_grounding(self, grounding: dict) -> dict:
        """Instance tokens for a batch of grounding rows (exactly what the UNet would compute at every step)."""
        batch, device = next((v.shape[0], v.device) for v in grounding.values() if torch.is_tensor(v))
        with self.precision.autocast(device):
            return self.unet.encode_grounding(grounding, batch)

    def __call__(self, x, t, ctx, grounding, gate_scale):
        with self.precision.autocast(x.device):
            out = self.unet(x.to(self.dtype), t, ctx.to(self.dtype), grounding, gate_scale)
        return self.precision.eps(getattr(out, "sample", out))
