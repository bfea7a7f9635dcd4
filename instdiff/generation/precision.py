"""The generation precision modes by name (``generation.precision``), without torch, so the report stage can name them.

- ``fp32``: every weight and op in float32: ``eval_local.py`` as written (no autocast).
- ``autocast-fp16``: the original ``inference.py``: float32 weights, the sampling loop under
  ``torch.autocast(device, dtype=float16)``, the CLIP text encoder and the VAE decode in float32 outside it. The
  paper config's default.
- ``bf16``: our fast mode: the UNet's weights in bfloat16, with the float32 islands of the original kept (Fourier
  features, normalisation statistics, attention softmax inside the SDPA kernels, text encoder and VAE).

The torch side (autocast contexts, the float32 islands) lives in :mod:`instdiff.model.precision`.
"""

from __future__ import annotations

from typing import Any, Mapping

from instdiff.core.errors import InputError

PRECISIONS = ("fp32", "autocast-fp16", "bf16")
DEFAULT_PRECISION = "autocast-fp16"

DESCRIPTIONS = {
    "fp32": "fp32 weights and ops (eval_local.py as written)",
    "autocast-fp16": "fp32 weights under fp16 autocast, text encoder and VAE in fp32 (the original inference.py)",
    "bf16": "bf16 UNet weights with fp32 Fourier features, norm statistics, text encoder and VAE (fast mode)",
}

# What the removed ``generation.dtype`` / ``--dtype`` values mean now. The old fp16 cast the weights themselves,
# which the original never did; its closest faithful replacement is autocast-fp16.
REPLACES_DTYPE = {"fp32": "fp32", "fp16": "autocast-fp16", "bf16": "bf16"}


def check_precision(value: Any, path=None, field: str = "generation.precision") -> str:
    """``value`` if it names a precision mode, else one :class:`InputError` that lists the modes."""
    if value not in PRECISIONS:
        hint = f" (the old dtype {value!r} is now {REPLACES_DTYPE[value]!r})" if value in REPLACES_DTYPE else ""
        raise InputError(path, f"unknown precision {value!r}{hint}", f"use one of {', '.join(PRECISIONS)}", field)
    return value


def removed_dtype_error(value: Any, path=None, field: str = "generation.dtype") -> InputError:
    """The error for the removed dtype setting (config key or ``--dtype``): it names the precision to use instead."""
    new = REPLACES_DTYPE.get(value, DEFAULT_PRECISION)
    setting = f"--precision {new}" if field.startswith("--") else f"generation.precision: {new}"
    modes = "; ".join(f"{p} = {d}" for p, d in DESCRIPTIONS.items())
    return InputError(
        path, f"{field} {value!r} was removed: it cast the weights, the original ran fp32 weights under fp16 autocast",
        f"use {setting} instead of {field} ({modes})", field,
    )


def generation_precision(generation: Mapping[str, Any] | None, path=None) -> str:
    """The precision mode of a config's ``generation`` section (default :data:`DEFAULT_PRECISION`).

    A config that still sets the removed ``dtype`` gets one error saying what to write instead.
    """
    generation = generation or {}
    if "dtype" in generation:
        raise removed_dtype_error(generation["dtype"], path)
    return check_precision(generation.get("precision", DEFAULT_PRECISION), path)


def describe(name: str | None) -> str:
    """``name (what it means)`` for footers and logs; unknown or missing names are shown as they are."""
    return f"{name} ({DESCRIPTIONS[name]})" if name in DESCRIPTIONS else str(name)
