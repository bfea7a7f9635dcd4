"""Precision modes at run time: which dtype the weights have, which autocast wraps the UNet, and the float32 islands.

The modes (named in :mod:`instdiff.generation.precision`):

============== ============ ======================= ============================================================
mode           UNet weights autocast around the UNet ε handed to the sampler
============== ============ ======================= ============================================================
fp32           float32      none                    float32 (``eval_local.py`` as written)
autocast-fp16  float32      float16                 float16, as the UNet returns it (``inference.py``: guidance
                                                    and the PLMS multistep combine fp16 ε; the latent update then
                                                    promotes to float32, as the original's float32 ᾱ tensors do)
bf16           bfloat16     none                    float32 (our fast mode keeps the sampler maths in float32)
============== ============ ======================= ============================================================

The CLIP text encoder and the VAE always stay float32 and run outside autocast (``inference.py`` encodes the prompts
before ``torch.autocast`` and decodes after it).

**Float32 islands.** Under CUDA autocast the original keeps some ops in float32: autocast runs ``layer_norm``,
``group_norm``, ``pow`` and ``softmax`` in float32, and the position net's Fourier features are computed from float32
coordinates (``sin``/``cos`` are not cast). CPU autocast has other op lists (it casts none of these), and without
autocast (bf16 weights) nothing would be kept at all, so the islands are explicit here and hold in every mode and on
every device:

- Fourier features of boxes, points, scribbles and polygons: multiply, sin and cos in at least float32
  (:func:`instdiff.model.position_net.fourier_embed`); the null-feature mixing before the MLPs too;
- ``nn.LayerNorm`` / ``nn.GroupNorm`` statistics and affine in float32, result in the input dtype
  (:class:`Fp32LayerNorm`, :class:`Fp32GroupNorm`; CUDA autocast returns float32 there, but every consumer in the
  UNet is a linear or conv that autocast casts back to fp16 first, so the numbers are the same);
- the ConvNeXt channels-first LayerNorm: the square, the variance and the affine in float32 (its variance
  ``(x - mean)**2`` overflows fp16 for |x - mean| > 256) (:class:`instdiff.model.convnext.ChannelsFirstLayerNorm`);
- attention softmax: every attention (diffusers' processors, the masked fuser attention) goes through
  ``scaled_dot_product_attention``, whose flash, memory-efficient, CPU-flash and math kernels accumulate the softmax
  in float32 for fp16/bf16 inputs; there is no explicit low-precision softmax in the model.

**CPU.** ``torch.autocast("cpu", dtype=torch.float16)`` is supported by the pinned torch (2.13), so ``autocast-fp16``
runs on CPU as it is: no bfloat16 fallback. A torch that cannot autocast to float16 on a device gets a clear error
(:func:`autocast_context`), never a silent float32 run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from instdiff.generation.precision import check_precision

FULL_PRECISION = (torch.float32, torch.float64)


@dataclass(frozen=True)
class Precision:
    """One precision mode: see the module docstring."""

    name: str
    unet_dtype: torch.dtype
    autocast_dtype: torch.dtype | None
    keep_eps_dtype: bool  # hand ε to the sampler in the UNet's output dtype (the original under autocast)
    refiner_dtype: torch.dtype  # the SDXL refiner (inference.py loads it in fp16)

    @classmethod
    def named(cls, name: "str | Precision") -> "Precision":
        if isinstance(name, Precision):
            return name
        return MODES[check_precision(name, field="precision")]

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """The context the UNet runs in (a no-op without autocast)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return autocast_context(torch.device(device).type, self.autocast_dtype)

    def prepare_unet(self, unet: nn.Module) -> nn.Module:
        """The UNet in this mode's weight dtype (the text encoder and the VAE are left in float32)."""
        return unet.to(dtype=self.unet_dtype)

    def eps(self, eps: torch.Tensor) -> torch.Tensor:
        """The UNet output as the sampler gets it."""
        return eps if self.keep_eps_dtype else eps.float()


MODES = {
    "fp32": Precision("fp32", torch.float32, None, False, torch.float32),
    "autocast-fp16": Precision("autocast-fp16", torch.float32, torch.float16, True, torch.float16),
    "bf16": Precision("bf16", torch.bfloat16, None, False, torch.bfloat16),
}


@contextlib.contextmanager
def autocast_context(device_type: str, dtype: torch.dtype) -> Iterator[None]:
    """``torch.autocast(device_type, dtype)`` that refuses to fall back silently: torch disables autocast with only a
    warning when a device cannot autocast to ``dtype``, which would turn autocast-fp16 into a float32 run."""
    with torch.autocast(device_type=device_type, dtype=dtype):
        if not torch.is_autocast_enabled(device_type) or torch.get_autocast_dtype(device_type) != dtype:
            raise RuntimeError(
                f"torch {torch.__version__} cannot autocast to {dtype} on {device_type}; "
                "use generation.precision fp32 or bf16 on this device"
            )
        yield


# ----------------------------------------------------------------------------------------------- float32 islands


def at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    """float32 for half types, the dtype itself for float32 / float64 (the parity tests run float64 references)."""
    return dtype if dtype in FULL_PRECISION else torch.float32


def upcast(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype in FULL_PRECISION else t.float()


def autocast_off(device_type: str) -> contextlib.AbstractContextManager:
    """Inside an island the ops run in the dtype of their (upcast) inputs, whatever autocast is active outside."""
    return torch.autocast(device_type=device_type, enabled=False)


class Fp32LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` computed in float32 (statistics and affine), returned in the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast_off(x.device.type):
            w = None if self.weight is None else upcast(self.weight)
            b = None if self.bias is None else upcast(self.bias)
            return F.layer_norm(upcast(x), self.normalized_shape, w, b, self.eps).to(x.dtype)


class Fp32GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` computed in float32, returned in the input dtype (the original's ``GroupNorm32``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast_off(x.device.type):
            w = None if self.weight is None else upcast(self.weight)
            b = None if self.bias is None else upcast(self.bias)
            return F.group_norm(upcast(x), self.num_groups, w, b, self.eps).to(x.dtype)


_ISLANDS = {nn.LayerNorm: Fp32LayerNorm, nn.GroupNorm: Fp32GroupNorm}


def install_norm_islands(module: nn.Module) -> int:
    """Turn every plain ``nn.LayerNorm`` / ``nn.GroupNorm`` inside ``module`` into its float32-island subclass, in
    place (same parameters and state-dict names; works on meta tensors). Returns how many were converted."""
    n = 0
    for m in module.modules():
        island = _ISLANDS.get(type(m))
        if island is not None:
            m.__class__ = island
            n += 1
    return n
