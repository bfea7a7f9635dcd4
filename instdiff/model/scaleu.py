"""ScaleU (InstanceDiffusion §3.3): learned rescaling of the backbone features and Fourier filtering of the skip
features entering each of the 12 decoder resnets (reference §1.5).

For decoder block idx, with b = 1 + tanh(scaleu_b_idx) (per channel of h) and s = 1 + tanh(scaleu_s_idx):
  h <- h * b;  skip <- FourierFilter(skip, threshold=1, scale=s);  input <- concat([h, skip]).
FourierFilter scales the centred (fftshift-ed) spectrum on the window [H/2-1, H/2+1) x [W/2-1, W/2+1), i.e. the
frequencies {-1, 0} on each axis: the original's asymmetric 2x2 window (+1 is not scaled), then takes the real part
of the inverse transform.

Wired on diffusers' up blocks with a forward pre-hook on each resnet: the up block has already concatenated
[h, skip] along channels when it calls the resnet, so the hook splits at C_h = len(scaleu_b_idx).
"""

from __future__ import annotations

import torch
from torch import nn

from instdiff.model.precision import upcast


def fourier_filter(x: torch.Tensor, scale: torch.Tensor, threshold: int = 1) -> torch.Tensor:
    """Scale the low-frequency window of ``x`` (B,C,H,W) by ``scale`` (shape [1]); result in the input dtype.

    The forward FFT runs where the original's ran: in float16 for a float16 input on CUDA with power-of-two sizes
    (the original's ``Fourier_filter`` under autocast; torch.fft is not on autocast's lists), otherwise in at least
    float32 (CPU has no half FFT and its autocast runs FFTs in float32; bf16 FFTs do not exist). The float32 window
    then promotes the spectrum to complex64, so the inverse FFT is float32 in every case, as in the original.
    """
    h, w = x.shape[-2:]
    half_fft = x.dtype == torch.float16 and x.is_cuda and _power_of_two(h) and _power_of_two(w)
    xf = torch.fft.fftshift(torch.fft.fftn(x if half_fft else upcast(x), dim=(-2, -1)), dim=(-2, -1))
    mask = torch.ones((1, 1, h, w), device=x.device, dtype=torch.float32)
    ch, cw = h // 2, w // 2
    mask[..., ch - threshold : ch + threshold, cw - threshold : cw + threshold] = scale.float().reshape(())
    xf = torch.fft.ifftshift(xf * mask, dim=(-2, -1))
    return torch.fft.ifftn(xf, dim=(-2, -1)).real.to(x.dtype)


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def scaleu_input(x: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Apply ScaleU to the concatenated decoder-resnet input ``x`` = cat([h, skip]) with raw parameters b, s.

    h * b promotes as the original's einsum does: an fp16 h (autocast) times float32 b gives float32, and the
    concatenation then promotes the skip too, so the resnet's GroupNorm sees float32 as in the original.
    """
    c_h = b.shape[0]
    h, skip = x[:, :c_h], x[:, c_h:]
    h = h * (1 + torch.tanh(b)).view(1, -1, 1, 1)
    skip = fourier_filter(skip, 1 + torch.tanh(s))
    return torch.cat([h, skip], dim=1)


def decoder_resnets(unet: nn.Module) -> list[nn.Module]:
    """The decoder resnets in the original's output-block order (output_blocks.idx <-> up_blocks[idx // L+1])."""
    return [resnet for block in unet.up_blocks for resnet in block.resnets]


def install_scaleu_hooks(unet: nn.Module, owner: nn.Module) -> list:
    """Register the pre-hooks; ``owner`` holds the parameters ``scaleu_b_{i}`` / ``scaleu_s_{i}``."""
    handles = []
    for idx, resnet in enumerate(decoder_resnets(unet)):

        def hook(module, args, idx=idx):
            b = getattr(owner, f"scaleu_b_{idx}")
            s = getattr(owner, f"scaleu_s_{idx}")
            return (scaleu_input(args[0], b, s),) + tuple(args[1:])

        handles.append(resnet.register_forward_pre_hook(hook))
    return handles
