"""The SDXL refiner cascade on a tiny StableDiffusionXLImg2ImgPipeline built from configs (random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def refiner(tmp_path_factory):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from tests.unit.tiny_stack import tiny_tokenizer

    torch.manual_seed(0)
    tok = tiny_tokenizer(tmp_path_factory.mktemp("tok"))
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=5 * 8 + 16, cross_attention_dim=16,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        norm_num_groups=8, layers_per_block=1)
    te2 = CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=77, projection_dim=16, bos_token_id=len(tok) - 2, eos_token_id=len(tok) - 1,
        pad_token_id=len(tok) - 1))
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=vae, text_encoder=None, text_encoder_2=te2, tokenizer=None, tokenizer_2=tok, unet=unet,
        scheduler=EulerDiscreteScheduler(), requires_aesthetics_score=True, add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_refiner_cascade_is_seeded(refiner, tmp_path):
    from PIL import Image

    from instdiff.core.layout import Instance, Layout
    from instdiff.generation.pipeline import GenerationSettings
    from tests.unit.tiny_stack import tiny_pipeline

    pipe = tiny_pipeline(tmp_path)
    pipe.refiner = refiner
    lay = Layout(id="r", caption="a red ball", instances=[Instance("a red ball", (0.2, 0.2, 0.6, 0.6))])
    settings = GenerationSettings(location="box", steps=2, mis=0.0, refiner_strength=0.5, refiner_steps=2)
    a = pipe(lay, settings, seed=4)
    b = pipe(lay, settings, seed=4)
    assert len(a.refined) == 1 and isinstance(a.refined[0], Image.Image) and a.refined[0].size == (512, 512)
    assert np.array_equal(np.asarray(a.refined[0]), np.asarray(b.refined[0]))  # the original's was unseeded
    assert np.array_equal(np.asarray(a.images[0]), np.asarray(b.images[0]))
    assert "refine_s" in a.timings
