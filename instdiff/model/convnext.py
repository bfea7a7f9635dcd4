"""ConvNeXt trunk of the UniFusion mask branch, with the parameter names of the original ConvNeXt code.

The original builds ``convnext_tiny`` (Liu et al. 2022; dims 96/192/384/768, depths 3/3/9/3) and uses only its
trunk: the stem, the three downsampling layers and the four stages, no final norm and no classifier head. The
parameter names (``downsample_layers.{i}.{j}``, ``stages.{s}.{b}.{dwconv,norm,pwconv1,pwconv2,gamma}``) are
those of the InstanceDiffusion checkpoint, so it loads without renaming. Drop path is 0 at inference (Identity).
Sizes come from the constructor so the smoke config can build a tiny trunk with the same names.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from instdiff.model.precision import autocast_off, upcast


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, H, W) map, computed as the original does (mean, biased var)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A float32 island (instdiff.model.precision), op for op as the original under CUDA autocast: the mean and
        # x - mean in the input dtype, then autocast's float32 pow, so the variance, the normalisation and the affine
        # (float32 weights) are float32. Its float32 result keeps the ConvNeXt residual stream in float32 there; with
        # bf16 weights (no autocast) the result is cast to them for the next conv.
        with autocast_off(x.device.type):
            mean = x.mean(1, keepdim=True)
            diff = upcast(x - mean)
            var = diff.pow(2).mean(1, keepdim=True)
            y = diff / torch.sqrt(var + self.eps)
            y = upcast(self.weight)[:, None, None] * y + upcast(self.bias)[:, None, None]
        return y.to(self.weight.dtype)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv, channels-last LayerNorm, Linear(d, 4d), exact GELU, Linear(4d, d), layer scale, residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ConvNeXtTrunk(nn.Module):
    """ConvNeXt feature trunk: stem (4x4 stride-4 conv + LN), then per stage [LN + 2x2 stride-2 conv] and blocks.

    Output stride 32: a (B, in_chans, 512, 512) input gives (B, dims[-1], 16, 16).
    """

    def __init__(self, in_chans: int = 3, dims: Sequence[int] = (96, 192, 384, 768), depths: Sequence[int] = (3, 3, 9, 3)):
        super().__init__()
        if len(dims) != 4 or len(depths) != 4:
            raise ValueError(f"ConvNeXt needs 4 stages, got dims={dims} depths={depths}")
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0]))]
        )
        for i in range(1, 4):
            self.downsample_layers.append(
                nn.Sequential(ChannelsFirstLayerNorm(dims[i - 1]), nn.Conv2d(dims[i - 1], dims[i], kernel_size=2, stride=2))
            )
        self.stages = nn.ModuleList([nn.Sequential(*[ConvNeXtBlock(dims[i]) for _ in range(depths[i])]) for i in range(4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return x
