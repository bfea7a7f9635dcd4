"""A tiny InstanceDiffusionPipeline for CPU tests, built from diffusers / transformers configs (random weights).

The UNet is a diffusers ``UNet2DConditionModel`` behind the InstanceDiffusion call signature, with a small
grounding-dependent term so grounding inputs and the gate scale change the output. Test-only stand-in: the real
tiny InstanceDiffusion model is built by instdiff.model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from instdiff.model.tiny import _bytes_to_unicode
from instdiff.generation.pipeline import InstanceDiffusionPipeline

WIDTH = 32


def tiny_tokenizer(folder: Path):
    """A byte-level CLIP tokenizer with no merges (every character is a token)."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


class GroundedTinyUNet(torch.nn.Module):
    """eps = UNet(x, t, ctx) + gate_scale · 0.1 · tanh(w · pooled grounding), per batch row."""

    def __init__(self):
        super().__init__()
        from diffusers import UNet2DConditionModel

        self.unet = UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=WIDTH, attention_head_dim=8, norm_num_groups=8,
        )
        self.g = torch.nn.Linear(WIDTH + 4 + 2 + 1, 4)
        self.location = "mask"

    def set_location(self, location: str) -> None:
        self.location = location

    def forward(self, sample, timestep, encoder_hidden_states, grounding=None, gate_scale=1.0):
        eps = self.unet(sample, timestep, encoder_hidden_states).sample
        B = sample.shape[0]
        if grounding is None:
            feats = torch.zeros(B, WIDTH + 7, dtype=sample.dtype, device=sample.device)
        else:
            m = grounding["masks"][..., None]
            seg = grounding["segs"].flatten(2).mean(-1, keepdim=True) if self.location != "box" else torch.zeros_like(m)
            parts = [grounding["positive_embeddings"], grounding["boxes"], grounding["points"], seg]
            feats = (torch.cat(parts, dim=-1) * m).sum(1)
        return eps + gate_scale * 0.1 * torch.tanh(self.g(feats))[:, :, None, None]


def tiny_pipeline(tmp: Path, seed: int = 0) -> InstanceDiffusionPipeline:
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tok = tiny_tokenizer(tmp / "tokenizer")
    te = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, bos_token_id=len(tok) - 2, eos_token_id=len(tok) - 1, pad_token_id=len(tok) - 1,
    )).eval()
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=8,
    ).eval()
    return InstanceDiffusionPipeline(GroundedTinyUNet().eval(), vae, te, tok)
