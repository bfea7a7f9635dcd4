"""Tiny random GLIGEN for the smoke config, in diffusers' own folder format (the release's format).

The release ``masterful/gligen-1-4-generation-text-box`` is a ``StableDiffusionGLIGENPipeline`` folder written by
``save_pretrained`` (diffusers' ``scripts/convert_gligen_to_diffusers.py``): a ``UNet2DConditionModel`` with
``attention_type="gated"`` (a ``GatedSelfAttentionDense`` fuser in every transformer block and the
``GLIGENTextBoundingboxProjection`` position net), an SD 1.4 ``AutoencoderKL``, CLIP ViT-L/14 text, CLIP's
tokenizer and a ``DDIMScheduler`` (scaled-linear 0.00085..0.012, ``steps_offset=1``, no clipping, no
``set_alpha_to_one``); no safety checker. :func:`write_tiny_gligen` saves the same pipeline class with the same
component classes and configs, scaled down (every width small, cross attention and the fusers only at 16x16 latents,
a 4-level VAE so images are 512x512 from 64x64 latents as the release's), so the smoke's GLIGEN images go through
``from_pretrained`` and the real pipeline. The fuser gates start open (diffusers initialises them to 0, which would make grounding a
no-op in a random model).
"""

from __future__ import annotations

import logging
from pathlib import Path

from instdiff.core.io import atomic_dir

log = logging.getLogger(__name__)

WIDTH = 32  # text hidden size = cross-attention width = GLIGEN's positive_len


def build_tiny_gligen(seed: int = 0):
    """A random ``StableDiffusionGLIGENPipeline`` at tiny sizes (see the module docstring)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from instdiff.core.original_constants import LINEAR_END, LINEAR_START, NUM_TRAIN_TIMESTEPS
    from instdiff.model.gligen_class import gligen_pipeline_class
    from instdiff.model.tiny import build_clip_tokenizer

    torch.manual_seed(int(seed))
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16, 32),
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8,
        cross_attention_dim=WIDTH, attention_type="gated",
    )
    for name, param in unet.named_parameters():
        if name.endswith(("fuser.alpha_attn", "fuser.alpha_dense")):
            param.data.fill_(0.5)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
        block_out_channels=(4, 4, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512,
    )
    tokenizer = build_clip_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=WIDTH, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77, projection_dim=WIDTH,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    scheduler = DDIMScheduler(
        num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_start=LINEAR_START, beta_end=LINEAR_END,
        beta_schedule="scaled_linear", steps_offset=1, clip_sample=False, set_alpha_to_one=False,
        prediction_type="epsilon",
    )
    return gligen_pipeline_class()(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def write_tiny_gligen(out_dir: str | Path, seed: int = 0) -> Path:
    """``save_pretrained`` of :func:`build_tiny_gligen` into ``out_dir``, atomically (a folder renamed into place)."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        build_tiny_gligen(seed).save_pretrained(str(tmp))
    log.info("wrote the tiny GLIGEN pipeline to %s", out_dir)
    return out_dir
