"""Sizes of every InstanceDiffusion component, so the same classes build the released SD1.5 model and a tiny one.

``ModelConfig.sd15()`` is the released model (configs/test_*.yaml of the original plus the SD1.5 VAE and the CLIP
ViT-L/14 text tower); ``ModelConfig.tiny()`` is the smoke model: same structure and parameter names, small widths,
still 512x512 images (VAE factor 8, 64x64 latents). The config is written next to the converted weights
(``instdiff_model.json``) so a converted folder rebuilds itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from instdiff.core.original_constants import LATENT_SCALE

# test_drop_{boxes, points, scribbles, masks} of configs/test_{box,mask,point,scribble}.yaml (reference §3).
LOCATION_DROPS: dict[str, dict[str, bool]] = {
    "box": {"boxes": False, "points": False, "scribbles": True, "masks": True},
    "mask": {"boxes": False, "points": False, "scribbles": True, "masks": False},
    "point": {"boxes": True, "points": False, "scribbles": True, "masks": True},
    "scribble": {"boxes": False, "points": False, "scribbles": False, "masks": False},
}


@dataclass
class PositionNetConfig:
    in_dim: int = 768  # width of the pooled instance text embedding (CLIP text hidden size)
    out_dim: int = 768  # token width fed to the fusers (= UNet cross_attention_dim)
    mid_dim: int = 3072  # hidden width of the 5 MLPs
    convnext_dims: tuple[int, ...] = (96, 192, 384, 768)
    convnext_depths: tuple[int, ...] = (3, 3, 9, 3)


@dataclass
class UNetConfig:
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    attention_levels: tuple[bool, ...] = (True, True, True, False)  # which levels carry transformers (ldm attention_resolutions)
    layers_per_block: int = 2
    num_heads: int = 8
    cross_attention_dim: int = 768
    norm_num_groups: int = 32
    in_channels: int = 4
    out_channels: int = 4
    sample_size: int = 64


@dataclass
class VAEConfig:
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    latent_channels: int = 4
    norm_num_groups: int = 32
    sample_size: int = 512
    scaling_factor: float = LATENT_SCALE


@dataclass
class TextEncoderConfig:
    vocab_size: int = 49408
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    projection_dim: int = 768


@dataclass
class ModelConfig:
    unet: UNetConfig = field(default_factory=UNetConfig)
    position_net: PositionNetConfig = field(default_factory=PositionNetConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)

    @classmethod
    def sd15(cls) -> "ModelConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "ModelConfig":
        """The smoke model: every width small, attention only at 16x16 and below, one resnet per UNet level (an
        ldm ``num_res_blocks: 1``; the release has 2), so a CPU UNet call is fast: a smoke image takes hundreds of
        UNet rows (every MIS chain, twice for CFG), and this UNet costs about a quarter of the (16, 32, 64, 64) one
        with 2 resnets per level. Widths and depths are free here; the module structure is the release's."""
        width = 32
        return cls(
            unet=UNetConfig(block_out_channels=(4, 8, 16, 16), attention_levels=(False, False, True, False),
                            layers_per_block=1, norm_num_groups=4, num_heads=2, cross_attention_dim=width),
            position_net=PositionNetConfig(in_dim=width, out_dim=width, mid_dim=32,
                                           convnext_dims=(8, 8, 16, 16), convnext_depths=(1, 1, 1, 1)),
            # The VAE decoder's top level runs at 512x512, once per image: the narrowest widths keep it cheap too.
            vae=VAEConfig(block_out_channels=(4, 4, 8, 8), layers_per_block=1, norm_num_groups=4),
            text_encoder=TextEncoderConfig(hidden_size=width, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, projection_dim=width),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        def build(kind, values):
            names = {f.name for f in dataclasses.fields(kind)}
            unknown = set(values) - names
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields: {sorted(unknown)}")
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        return cls(
            unet=build(UNetConfig, d.get("unet", {})),
            position_net=build(PositionNetConfig, d.get("position_net", {})),
            vae=build(VAEConfig, d.get("vae", {})),
            text_encoder=build(TextEncoderConfig, d.get("text_encoder", {})),
        )
