"""Read the released ``instancediffusion_sd15.pth`` as it was written, without running pickle code.

The file is a raw training checkpoint of the original ``utils/checkpoint.py`` (reference §2.1): a dict with
``model``, ``ema``, ``text_encoder``, ``autoencoder``, ``diffusion`` (12 schedule buffers), ``opt`` (AdamW
``state_dict``), ``scheduler`` (LambdaLR ``state_dict``), ``iters`` and ``config_dict``. ``config_dict`` is
``vars()`` of the training OmegaConf ``DictConfig`` (``utils/misc.py`` ``save_config``): a plain dict with
``_metadata``, ``_parent``, ``_flags_cache`` and ``_content``, holding omegaconf node objects.

``torch.load(weights_only=True)`` refuses those objects. Rather than ``weights_only=False`` (which runs any code a
downloaded pickle names), the load allows exactly the classes that pickle holds: the omegaconf containers, nodes
and metadata, ``typing.Any`` and the builtins/collections types their metadata refers to. Anything else in the
pickle is an unknown container and is refused before it is built.

Errors say which of three things went wrong, each naming the file:
* damaged file: the archive is truncated or corrupt, or its SHA256 differs from the expected one;
* unknown container: not a ``torch.save`` zip archive, an unexpected class in the pickle, or the wrong top level;
* architecture: ``config_dict`` describes a different model than the one being converted (names the key).
Missing or unexpected tensors are reported by the converter's key accounting (``convert.load_section``).
"""

from __future__ import annotations

import collections
import logging
import pickle
import re
import typing
import zipfile
from pathlib import Path
from typing import Any

import torch

from instdiff.core.checkpoints import sha256
from instdiff.core.errors import InputError
from instdiff.model.config import ModelConfig
from instdiff.model.original_layout import DIFFUSION_BUFFERS, original_config

log = logging.getLogger(__name__)

SECTIONS_REQUIRED = ("autoencoder", "text_encoder")
UNET_SECTIONS = ("ema", "model")  # preference order of the original's load_model_ckpt
DAMAGED_FIX = "the file is damaged: delete it and download it again (the download rule checks its SHA256)"


def safe_globals() -> list:
    """The classes the release's pickle names besides tensors: what ``vars(DictConfig)`` pickles to under
    omegaconf 2.3 (containers, AnyNode leaves, their metadata dataclasses, ``typing.Any`` as ref/key/element type,
    ``defaultdict(dict)`` as resolver cache, ``dict``/``list``/``int`` as object and key types)."""
    from omegaconf import DictConfig, ListConfig
    from omegaconf.base import ContainerMetadata, Metadata
    from omegaconf.nodes import AnyNode

    return [DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode, typing.Any,
            collections.defaultdict, dict, list, int]


def _damaged(path: Path, what: str) -> InputError:
    return InputError(path, f"damaged file: {what}", DAMAGED_FIX)


def load_container(path: str | Path, expected_sha256: str | None = None) -> dict:
    """The top-level dict of the checkpoint, tensors memory-mapped; InputError on any of the failures above."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint file does not exist", "run the rule that downloads or writes it")
    if expected_sha256:
        digest = sha256(path)
        if digest != expected_sha256.lower():
            raise _damaged(path, f"SHA256 {digest} differs from the expected {expected_sha256}")
    try:
        with torch.serialization.safe_globals(safe_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        raise _unpickling_error(path, str(exc)) from None
    except PermissionError as exc:
        raise InputError(path, f"checkpoint cannot be opened ({exc})", "make the file readable") from None
    except (EOFError, OSError, zipfile.BadZipFile) as exc:
        raise _damaged(path, f"the archive cannot be read ({type(exc).__name__}: {exc}); it is truncated or corrupt") \
            from None
    except RuntimeError as exc:
        text = str(exc)
        if "mmap can only be used" in text or "_use_new_zipfile_serialization" in text:
            raise InputError(path, "unknown container: not a torch.save zip archive (the release is one)",
                             "pass the released instancediffusion_sd15.pth or a checkpoint in its format") from None
        raise _damaged(path, f"the archive cannot be read ({text.splitlines()[0][:200]}); it is truncated or "
                             f"corrupt") from None
    if not isinstance(ckpt, dict):
        raise InputError(path, f"unknown container: the top level is a {type(ckpt).__name__}, not the training "
                               f"checkpoint's dict", "pass the released instancediffusion_sd15.pth")
    return ckpt


def _unpickling_error(path: Path, text: str) -> InputError:
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return InputError(path, f"unknown container: the pickle names {found.group(1)}, which the released "
                                f"checkpoint does not hold; it was not loaded (no pickle code is run)",
                          "pass the released instancediffusion_sd15.pth or a checkpoint written by the original "
                          "training code")
    if "truncated" in text or "ran out of input" in text.lower():
        return _damaged(path, f"the pickle is truncated ({text.splitlines()[0][:200]})")
    first = next((line.strip() for line in text.splitlines() if "WeightsUnpickler" in line), text.splitlines()[0])
    return InputError(path, f"unknown container: {first[:300]}", "pass the released instancediffusion_sd15.pth")


def unet_sections(ckpt: dict, path: str | Path) -> list[str]:
    """The UNet sections present, in the order they are tried (``ema`` first); InputError if a section is missing."""
    present = [s for s in UNET_SECTIONS if isinstance(ckpt.get(s), dict)]
    if not present:
        raise InputError(path, "missing top-level section 'ema' and 'model' (the UNet weights)",
                         "pass the released instancediffusion_sd15.pth", field="model")
    for key in SECTIONS_REQUIRED:
        if not isinstance(ckpt.get(key), dict):
            raise InputError(path, f"missing top-level section {key!r}", "pass the released instancediffusion_sd15.pth",
                             field=key)
    return present


# ---------------------------------------------------------------------------------------------- config_dict
def config_content(ckpt: dict, path: str | Path) -> dict | None:
    """``config_dict['_content']`` as plain Python values (None when the file has no ``config_dict``)."""
    raw = ckpt.get("config_dict")
    if raw is None:
        return None
    from omegaconf import DictConfig, OmegaConf

    if isinstance(raw, DictConfig):
        return OmegaConf.to_container(raw, resolve=False)
    if not isinstance(raw, dict) or "_content" not in raw:
        raise InputError(path, "unknown container: config_dict is not vars() of an OmegaConf DictConfig",
                         "pass the released instancediffusion_sd15.pth", field="config_dict")
    return {str(k): _plain(v) for k, v in raw["_content"].items()}


def _plain(node: Any) -> Any:
    from omegaconf import Container, OmegaConf
    from omegaconf.nodes import ValueNode

    if isinstance(node, Container):
        return OmegaConf.to_container(node, resolve=False)
    if isinstance(node, ValueNode):
        return node._value()
    return node


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


# Keys that fix tensor shapes or the sampling schedule; training flags and test_drop_* are not architecture.
ARCHITECTURE_KEYS = (
    "diffusion.params.linear_start", "diffusion.params.linear_end", "diffusion.params.timesteps",
    "model.params.in_channels", "model.params.out_channels", "model.params.model_channels",
    "model.params.attention_resolutions", "model.params.num_res_blocks", "model.params.channel_mult",
    "model.params.num_heads", "model.params.transformer_depth", "model.params.context_dim",
    "model.params.fuser_type", "model.params.grounding_tokenizer.params.in_dim",
    "model.params.grounding_tokenizer.params.out_dim", "model.params.grounding_tokenizer.params.mid_dim",
    "model.params.grounding_tokenizer.params.use_seperate_tokenizer",
    "autoencoder.params.embed_dim", "autoencoder.params.scale_factor", "autoencoder.params.ddconfig.z_channels",
    "autoencoder.params.ddconfig.ch", "autoencoder.params.ddconfig.ch_mult",
    "autoencoder.params.ddconfig.num_res_blocks", "autoencoder.params.ddconfig.double_z",
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return sorted(a) == sorted(b) if all(isinstance(x, (int, float)) for x in [*a, *b]) else list(a) == list(b)
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-9 * max(1, abs(b))
    return a == b


def check_architecture(content: dict, cfg: ModelConfig, path: str | Path, size: str) -> list[str]:
    """Compare ``config_dict`` with the model being built; InputError naming the first key that disagrees.
    Returns the keys checked (a key the file lacks is skipped: older configs may not carry every one)."""
    from instdiff.core.original_constants import LINEAR_END, LINEAR_START, NUM_TRAIN_TIMESTEPS

    expected = _flatten(original_config(cfg, LINEAR_START, LINEAR_END, NUM_TRAIN_TIMESTEPS))
    found = _flatten(content)
    checked = []
    for key in ARCHITECTURE_KEYS:
        if key not in found:
            continue
        if not _same(found[key], expected[key]):
            raise InputError(path, f"config_dict says {key} = {found[key]!r}, but the {size!r} model has "
                                   f"{expected[key]!r}: the checkpoint is of another architecture",
                             "choose the matching --size (sd15 for the release, tiny for the smoke checkpoint)",
                             field=f"config_dict/{key.replace('.', '/')}")
        checked.append(key)
    return checked


def check_diffusion(ckpt: dict, path: str | Path) -> None:
    """The ``diffusion`` section: the 12 ldm schedule buffers, and ``betas`` equal to the schedule we sample with."""
    from instdiff.core.original_constants import LINEAR_END, LINEAR_START, NUM_TRAIN_TIMESTEPS

    section = ckpt.get("diffusion")
    if section is None:
        return
    names = set(section)
    for name in DIFFUSION_BUFFERS:
        if name not in names:
            raise InputError(path, f"checkpoint section 'diffusion' lacks the buffer {name!r}",
                             "pass the released instancediffusion_sd15.pth", field=f"diffusion/{name}")
    extra = sorted(names - set(DIFFUSION_BUFFERS))
    if extra:
        raise InputError(path, f"unexpected tensor {extra[0]!r} in checkpoint section 'diffusion'",
                         "pass the released instancediffusion_sd15.pth", field=f"diffusion/{extra[0]}")
    betas = section["betas"]
    ours = torch.linspace(LINEAR_START**0.5, LINEAR_END**0.5, NUM_TRAIN_TIMESTEPS, dtype=torch.float64) ** 2
    if tuple(betas.shape) != (NUM_TRAIN_TIMESTEPS,) or not torch.allclose(betas.double(), ours, rtol=1e-5, atol=0):
        raise InputError(path, "diffusion/betas is not the ldm linear schedule 0.00085..0.012 over 1000 steps that "
                               "the sampler uses", "pass the released instancediffusion_sd15.pth",
                         field="diffusion/betas")
