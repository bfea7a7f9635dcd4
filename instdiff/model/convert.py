"""Convert the original InstanceDiffusion checkpoint into a diffusers-style folder of safetensors, and load it.

Input: ``instancediffusion_sd15.pth`` (or the tiny smoke checkpoint in the same layout), a dict with
``ema`` (preferred, as the original ``load_model_ckpt`` does) or ``model`` (UNetModel incl. ``position_net.*`` and
``scaleu_*``), ``autoencoder`` (ldm AutoencoderKL) and ``text_encoder`` (FrozenCLIPEmbedder: ``transformer.*``).
It is read with ``torch.load(weights_only=True)``. Every tensor is accounted for: a key the model needs that the
file lacks, or a key of the file that no parameter takes, stops the conversion with an InputError naming it.

Output folder::

    instdiff_model.json   format, ModelConfig (sizes), which section was used, source file name
    unet/                 diffusion_pytorch_model.safetensors (diffusers UNet names + position_net.* + scaleu_*)
    vae/                  diffusers AutoencoderKL (config.json + safetensors)
    text_encoder/         transformers CLIPTextModel (config.json + model.safetensors)
    tokenizer/            CLIPTokenizer

It is written to a temporary sibling and renamed into place, so an interrupted conversion leaves nothing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from instdiff.errors import InputError
from instdiff.io import atomic_dir
from instdiff.model import keymap
from instdiff.model.config import ModelConfig
from instdiff.model.unet import InstanceDiffusionUNet

log = logging.getLogger(__name__)

FORMAT = "instdiff-diffusers-1"
UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


# ---------------------------------------------------------------------------------------------- builders
def build_vae(cfg: ModelConfig):
    from diffusers import AutoencoderKL

    v = cfg.vae
    n = len(v.block_out_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=v.latent_channels,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(v.block_out_channels), layers_per_block=v.layers_per_block,
        norm_num_groups=v.norm_num_groups, sample_size=v.sample_size, scaling_factor=v.scaling_factor,
    )


def build_text_encoder(cfg: ModelConfig):
    from transformers import CLIPTextConfig, CLIPTextModel

    t = cfg.text_encoder
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=t.vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
        num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
        max_position_embeddings=t.max_position_embeddings, hidden_act=t.hidden_act, projection_dim=t.projection_dim,
        layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
    ))


# ---------------------------------------------------------------------------------------------- loading with accounting
def load_section(module: nn.Module, section: dict, rename: Callable[[str], str | None], *, path, section_name: str,
                 reshape: Callable[[str], bool] = lambda n: False, ignore: tuple[str, ...] = ()) -> None:
    """Rename ``section`` into ``module``'s names and load it; every key on both sides must be accounted for.

    Parameters may be on the meta device: they are replaced by the checkpoint tensors (``assign=True``).
    """
    target = module.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for name, tensor in section.items():
        if name in ignore:
            continue
        new = rename(name)
        if new is None or new not in target:
            raise InputError(path, f"unexpected tensor {name!r} in checkpoint section {section_name!r} "
                                   f"(no parameter of the model takes it)",
                             "use the released instancediffusion_sd15.pth or a checkpoint of the same architecture",
                             field=f"{section_name}/{name}")
        if reshape(new):
            tensor = tensor.reshape(target[new].shape)
        if tuple(tensor.shape) != tuple(target[new].shape):
            raise InputError(path, f"tensor {name!r} has shape {tuple(tensor.shape)}, the model expects "
                                   f"{tuple(target[new].shape)}", "check the model size (release vs tiny)",
                             field=f"{section_name}/{name}")
        mapped[new] = tensor
    missing = [k for k in target if k not in mapped]
    if missing:
        raise InputError(path, f"checkpoint section {section_name!r} lacks {len(missing)} tensor(s), first: "
                               f"{_original_name(missing[0], rename)!r} (model parameter {missing[0]!r})",
                         "the file is incomplete or of another architecture; download it again",
                         field=f"{section_name}/{missing[0]}")
    module.load_state_dict({k: v.contiguous() for k, v in mapped.items()}, strict=True, assign=True)
    meta = [n for n, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
    if meta:
        raise RuntimeError(f"parameters left uninitialised after loading: {meta[:5]}")


def _original_name(model_name: str, rename) -> str:
    """The original key a missing model parameter would have had (our name when no inverse is known)."""
    inverse = getattr(rename, "inverse", None)
    return (inverse(model_name) if inverse else None) or model_name


class _Renamer:
    def __init__(self, fwd: Callable[[str], str | None], inv: Callable[[str], str | None]):
        self.fwd, self.inverse = fwd, inv

    def __call__(self, name: str) -> str | None:
        return self.fwd(name)


def unet_renamer(cfg: ModelConfig) -> _Renamer:
    return _Renamer(lambda n: keymap.unet_to_diffusers(n, cfg.unet), lambda n: keymap.unet_to_original(n, cfg.unet))


def vae_renamer(cfg: ModelConfig) -> _Renamer:
    return _Renamer(lambda n: keymap.vae_to_diffusers(n, cfg.vae), lambda n: keymap.vae_to_original(n, cfg.vae))


def text_renamer() -> _Renamer:
    return _Renamer(keymap.text_to_diffusers, keymap.text_to_original)


def read_checkpoint(path: str | Path) -> tuple[dict, str]:
    """The original file's sections; returns (checkpoint dict, name of the UNet section used: 'ema' or 'model')."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "checkpoint file does not exist", "run the instancediffusion_checkpoint rule")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise InputError(path, f"cannot read the checkpoint ({type(exc).__name__}: {exc})",
                         "download it again (the sha256 check should catch a damaged file)") from None
    if not isinstance(ckpt, dict):
        raise InputError(path, f"top level is a {type(ckpt).__name__}, not a dict", "use the original checkpoint")
    section = "ema" if "ema" in ckpt else "model"
    for key in (section, "autoencoder", "text_encoder"):
        if key not in ckpt:
            raise InputError(path, f"missing top-level section {key!r}",
                             "use the original InstanceDiffusion checkpoint", field=key)
    return ckpt, section


def build_unet(cfg: ModelConfig, ckpt_section: dict, *, path, section_name: str) -> InstanceDiffusionUNet:
    """InstanceDiffusionUNet from an original-named state dict, built on the meta device (one copy of the weights)."""
    with torch.device("meta"):
        unet = InstanceDiffusionUNet(cfg)
    load_section(unet, ckpt_section, unet_renamer(cfg), path=path, section_name=section_name)
    return unet.eval()


def build_vae_from_original(cfg: ModelConfig, section: dict, *, path):
    with torch.device("meta"):
        vae = build_vae(cfg)
    load_section(vae, section, vae_renamer(cfg), path=path, section_name="autoencoder",
                 reshape=keymap.is_vae_attention_weight)
    return vae.eval()


def build_text_encoder_from_original(cfg: ModelConfig, section: dict, *, path):
    te = build_text_encoder(cfg)  # on CPU: CLIP's position_ids buffer is not in the state dict
    pos = section.get(keymap.TEXT_POSITION_IDS)
    if pos is not None and not torch.equal(pos.reshape(-1).long(), torch.arange(pos.numel())):
        raise InputError(path, "text_encoder position_ids are not 0..76", "use the original checkpoint",
                         field=f"text_encoder/{keymap.TEXT_POSITION_IDS}")
    load_section(te, section, text_renamer(), path=path, section_name="text_encoder",
                 ignore=(keymap.TEXT_POSITION_IDS,))
    return te.eval()


# ---------------------------------------------------------------------------------------------- conversion
def convert_checkpoint(checkpoint: str | Path, tokenizer_dir: str | Path, out_dir: str | Path,
                       config: ModelConfig | None = None) -> Path:
    """Convert the original checkpoint (+ a CLIP tokenizer folder) into the diffusers-style ``out_dir``."""
    from transformers import CLIPTokenizer

    cfg = config or ModelConfig.sd15()
    out_dir = Path(out_dir)
    ckpt, section = read_checkpoint(checkpoint)
    log.info("converting %s (UNet section %r)", checkpoint, section)
    unet = build_unet(cfg, ckpt[section], path=checkpoint, section_name=section)
    vae = build_vae_from_original(cfg, ckpt["autoencoder"], path=checkpoint)
    te = build_text_encoder_from_original(cfg, ckpt["text_encoder"], path=checkpoint)
    try:
        tok = CLIPTokenizer.from_pretrained(str(tokenizer_dir))
    except Exception as exc:  # noqa: BLE001
        raise InputError(tokenizer_dir, f"cannot load the CLIP tokenizer ({exc})", "rerun the download rule") from None

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out_dir) as tmp:
        (tmp / "unet").mkdir()
        save_file(unet_flat_state_dict(unet), str(tmp / UNET_WEIGHTS), metadata={"format": "pt"})
        (tmp / "unet" / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        vae.save_pretrained(tmp / "vae", safe_serialization=True)
        te.save_pretrained(tmp / "text_encoder", safe_serialization=True)
        tok.save_pretrained(tmp / "tokenizer")
        meta = {"format": FORMAT, "config": cfg.to_dict(), "unet_section": section,
                "source": Path(checkpoint).name}
        (tmp / "instdiff_model.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("wrote %s", out_dir)
    return out_dir


def unet_flat_state_dict(unet: InstanceDiffusionUNet) -> dict[str, torch.Tensor]:
    """diffusers UNet names without our wrapper's ``unet.`` prefix, plus ``position_net.*`` and ``scaleu_*``
    (the layout of the diffusers InstanceDiffusion port)."""
    return {k.removeprefix("unet."): v.detach().contiguous() for k, v in unet.state_dict().items()}


def _unflatten(name: str) -> str:
    return name if name.startswith(("position_net.", "scaleu_")) else "unet." + name


# ---------------------------------------------------------------------------------------------- loading
def read_model_config(folder: str | Path) -> ModelConfig:
    folder = Path(folder)
    meta_path = folder / "instdiff_model.json"
    if not meta_path.exists():
        raise InputError(folder, "not a converted InstanceDiffusion folder (no instdiff_model.json)",
                         "run the convert_instancediffusion rule")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise InputError(meta_path, f"unknown format {meta.get('format')!r}, expected {FORMAT!r}",
                         "convert the checkpoint again", field="format")
    return ModelConfig.from_dict(meta["config"])


def load_unet(folder: str | Path, dtype=torch.float32, device="cpu", location: str = "mask") -> InstanceDiffusionUNet:
    folder = Path(folder)
    cfg = read_model_config(folder)
    with torch.device("meta"):
        unet = InstanceDiffusionUNet(cfg, location=location)
    weights = {_unflatten(k): v for k, v in load_file(str(folder / UNET_WEIGHTS), device=str(device)).items()}
    load_section(unet, weights, lambda n: n, path=folder / UNET_WEIGHTS, section_name="unet")
    return unet.to(device=device, dtype=dtype).eval()


def load_components(folder: str | Path, dtype=torch.float32, device="cpu") -> dict:
    """The converted model: ``dict(unet=InstanceDiffusionUNet, vae=AutoencoderKL, text_encoder=CLIPTextModel,
    tokenizer=CLIPTokenizer)``, in eval mode, on ``device`` in ``dtype`` (the VAE and text encoder too)."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    unet = load_unet(folder, dtype, device)
    vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=dtype).to(device).eval()
    te = CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=dtype).to(device).eval()
    tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    return {"unet": unet, "vae": vae, "text_encoder": te, "tokenizer": tok}


SIZES = {"sd15": ModelConfig.sd15, "tiny": ModelConfig.tiny}


def convert_named(checkpoint: str | Path, tokenizer_dir: str | Path, out_dir: str | Path, size: str) -> Path:
    """``convert_checkpoint`` with the model size given by name: ``sd15`` (the release) or ``tiny`` (smoke)."""
    if size not in SIZES:
        raise InputError(None, f"unknown model size {size!r}", f"use one of {sorted(SIZES)}", field="size")
    return convert_checkpoint(checkpoint, tokenizer_dir, out_dir, SIZES[size]())
