"""Convert the original InstanceDiffusion checkpoint into a diffusers-style folder of safetensors, and load it.

Input: ``instancediffusion_sd15.pth`` (or the tiny smoke checkpoint in the same container), the original's raw
training checkpoint read by :mod:`instdiff.model.release_container` without running pickle code. Its UNet comes
from ``ema`` (preferred, as the original ``load_model_ckpt`` does) or, with a logged warning when ``ema`` is absent
or does not load, from ``model`` (UNetModel incl. ``position_net.*`` and ``scaleu_*``); ``autoencoder`` is the ldm
AutoencoderKL; ``text_encoder`` is FrozenCLIPEmbedder with transformers-4.27 names (``transformer.text_model.*``) or
5.x names (``transformer.*``). ``config_dict`` (when present) must describe the model being built; the
``diffusion`` buffers must be the schedule the sampler uses; ``opt``, ``scheduler`` and ``iters`` are training state
and are not converted. Every tensor is accounted for: a key the model needs that the file lacks, or a key of the
file that no parameter takes, stops the conversion with an InputError naming it.

Output folder::

    instdiff_model.json   format, ModelConfig (sizes), the conversion record: UNet section used (ema|model),
                          text-encoder naming, config_dict keys checked, iters, source file name
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

from instdiff.core.errors import InputError
from instdiff.core.io import atomic_dir
from instdiff.model import keymap
from instdiff.model import release_container
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
    source: dict[str, str] = {}
    for name, tensor in section.items():
        if name in ignore:
            continue
        new = rename(name)
        if new in source:
            raise InputError(path, f"tensors {source[new]!r} and {name!r} of section {section_name!r} both name the "
                                   f"parameter {new!r}", "use a checkpoint written by one model",
                             field=f"{section_name}/{name}")
        source[new] = name
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


def text_renamer(naming: str = keymap.TEXT_NAMINGS[0]) -> _Renamer:
    return _Renamer(keymap.text_to_diffusers, lambda n: keymap.text_to_original(n, naming))


def read_checkpoint(path: str | Path, expected_sha256: str | None = None) -> tuple[dict, str]:
    """The original file's sections; returns (checkpoint dict, the preferred UNet section: 'ema' or 'model')."""
    ckpt = release_container.load_container(path, expected_sha256)
    return ckpt, release_container.unet_sections(ckpt, path)[0]


def build_unet_preferring_ema(cfg: ModelConfig, ckpt: dict, *, path) -> tuple[InstanceDiffusionUNet, str]:
    """The UNet from ``ema``, else from ``model`` with a warning (the original's ``load_model_ckpt`` order)."""
    sections = release_container.unet_sections(ckpt, path)
    if sections[0] != "ema":
        log.warning("%s has no 'ema' section: loading the non-EMA weights of 'model'", path)
    for i, name in enumerate(sections):
        try:
            return build_unet(cfg, ckpt[name], path=path, section_name=name), name
        except InputError as exc:
            if i == len(sections) - 1:
                raise
            log.warning("section %r does not load (%s): loading the non-EMA weights of 'model'", name, exc)
    raise AssertionError("unreachable")


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
    for name in keymap.TEXT_POSITION_IDS_NAMES:
        pos = section.get(name)
        if pos is not None and not torch.equal(pos.reshape(-1).long(), torch.arange(pos.numel())):
            raise InputError(path, f"text_encoder position_ids are not 0..{pos.numel() - 1}",
                             "use the original checkpoint", field=f"text_encoder/{name}")
    naming = keymap.text_naming(section)
    load_section(te, section, text_renamer(naming), path=path, section_name="text_encoder",
                 ignore=keymap.TEXT_POSITION_IDS_NAMES)
    return te.eval()


# ---------------------------------------------------------------------------------------------- conversion
def convert_checkpoint(checkpoint: str | Path, tokenizer_dir: str | Path, out_dir: str | Path,
                       config: ModelConfig | None = None, size: str | None = None,
                       expected_sha256: str | None = None) -> Path:
    """Convert the original checkpoint (+ a CLIP tokenizer folder) into the diffusers-style ``out_dir``.
    Nothing is written unless every check passes. Returns ``out_dir``; its record is ``conversion_record``."""
    from transformers import CLIPTokenizer

    cfg = config or ModelConfig.sd15()
    size = size or next((name for name, make in SIZES.items() if make() == cfg), "custom")
    out_dir = Path(out_dir)
    ckpt = release_container.load_container(checkpoint, expected_sha256)
    content = release_container.config_content(ckpt, checkpoint)
    checked = [] if content is None else release_container.check_architecture(content, cfg, checkpoint, size)
    if content is None:
        log.warning("%s has no config_dict: the architecture is checked by tensor names and shapes only", checkpoint)
    release_container.check_diffusion(ckpt, checkpoint)
    unet, section = build_unet_preferring_ema(cfg, ckpt, path=checkpoint)
    log.info("converting %s (UNet section %r)", checkpoint, section)
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
                "sections": sorted(str(k) for k in ckpt), "text_encoder_naming": keymap.text_naming(ckpt["text_encoder"]),
                "config_dict_checked": checked, "iters": _plain_int(ckpt.get("iters")), "size": size,
                "source": Path(checkpoint).name, "source_sha256": expected_sha256}
        (tmp / "instdiff_model.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("wrote %s", out_dir)
    return out_dir


def _plain_int(value) -> int | None:
    return int(value) if isinstance(value, (int, torch.Tensor)) else None


def conversion_record(folder: str | Path) -> dict:
    """``instdiff_model.json`` of a converted folder (format, sizes and the conversion record)."""
    return json.loads((Path(folder) / "instdiff_model.json").read_text())


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


def convert_named(checkpoint: str | Path, tokenizer_dir: str | Path, out_dir: str | Path, size: str,
                  expected_sha256: str | None = None) -> Path:
    """``convert_checkpoint`` with the model size given by name: ``sd15`` (the release) or ``tiny`` (smoke)."""
    if size not in SIZES:
        raise InputError(None, f"unknown model size {size!r}", f"use one of {sorted(SIZES)}", field="size")
    return convert_checkpoint(checkpoint, tokenizer_dir, out_dir, SIZES[size](), size=size,
                              expected_sha256=expected_sha256)
