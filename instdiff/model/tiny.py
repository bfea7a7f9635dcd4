"""Tiny random InstanceDiffusion for the smoke config, written in the RELEASE's container.

``tiny_original_checkpoint`` builds what the original ``utils/checkpoint.py`` ``save_ckpt`` writes (reference §2.1),
at the tiny sizes of ``ModelConfig.tiny()``, from the original's module structure
(:mod:`instdiff.model.original_layout`), never from our diffusers model:

* ``model`` and ``ema``: UNetModel state dicts (``input_blocks.*``, fusers inside their transformer blocks,
  ``position_net.*``, ``scaleu_*``) with seeded random weights. They differ as in a trained release: EMA shadows
  only the trained parameters (fusers, position net, ScaleU); the frozen SD weights are equal in both;
* ``text_encoder``: FrozenCLIPEmbedder under transformers 4.27 (``transformer.text_model.*`` incl. the persistent
  ``position_ids`` buffer); ``autoencoder``: ldm AutoencoderKL names (1x1-conv attention);
* ``diffusion``: the 12 float32 buffers of ldm's ``register_schedule`` for the linear 0.00085..0.012 schedule;
* ``opt`` and ``scheduler``: a real ``torch.optim.AdamW`` over the trained parameters after one step, and the
  ``LambdaLR`` of transformers' constant-with-warmup schedule (a closure in 4.27, so ``lr_lambdas`` is ``[None]``);
* ``iters``; ``config_dict``: ``vars()`` of the training OmegaConf ``DictConfig`` (the yaml's architecture at the
  tiny sizes, updated with the training arguments, as ``main_submitit.py`` builds it).

State dicts are ``OrderedDict``s with the ``_metadata`` attribute that ``nn.Module.state_dict`` attaches.
The smoke run then goes through the real reader and converter. Images are still 512x512 (64x64 latents).

``write_clip_tokenizer`` builds the real CLIP BPE tokenizer (49408 tokens) offline from open_clip's bundled
vocabulary, following OpenAI's SimpleTokenizer construction; its ids equal open_clip's and OpenAI's.
"""

from __future__ import annotations

import gzip
import logging
import math
from collections import OrderedDict
from pathlib import Path

import torch

from instdiff.core.io import atomic_path
from instdiff.model.config import ModelConfig
from instdiff.model.original_layout import (
    DIFFUSION_BUFFERS,
    TEXT_POSITION_IDS_427,
    autoencoder_layout,
    is_trainable,
    original_config,
    text_encoder_layout,
    unet_layout,
)
from instdiff.core.original_constants import LINEAR_END, LINEAR_START, NUM_TRAIN_TIMESTEPS

log = logging.getLogger(__name__)

# The README's training command and main_submitit.py's defaults: what config.update(vars(args)) adds to the yaml.
TRAINING_ARGS = {
    "DATA_ROOT": "DATA", "OUTPUT_ROOT": "OUTPUT", "name": "train_sd15", "seed": 123, "local_rank": 0,
    "device": "cuda", "yaml_file": "configs/train_sd15.yaml", "base_learning_rate": 5e-05, "weight_decay": 0.0,
    "warmup_steps": 10000, "scheduler_type": "constant", "batch_size": 8, "workers": 4,
    "official_ckpt_name": "pretrained/v1-5-pruned-emaonly.ckpt", "ckpt": None, "enable_ema": True,
    "ema_rate": 0.9999, "total_iters": 500000, "save_every_iters": 5000, "total_epochs": 400,
    "disable_inference_in_training": True, "distributed": True, "world_size": 1, "dist_url": "env://",
    "wandb_name": "instdiff", "fp32": False, "train_file": "train.txt", "count_dup": True, "re_init_opt": False,
    "random_blip": 0.0, "use_masked_att": True, "add_inst_cap_2_global": False, "use_instance_sampler": True,
    "mis_ratio": 0.4, "use_crop_paste": True, "use_instance_loss": True, "instance_loss_weight": 1.0,
    "job_dir": "OUTPUT/%j", "output_dir": "OUTPUT/%j", "gpu": 0, "rank": 0,
}
TRAINING_EXTRA = {
    "train_dataset_names": {"Grounding": {"which_layer_text": "before", "image_size": 512, "max_boxes_per_data": 30,
                                          "prob_use_caption": 0.5, "random_crop": False, "random_flip": True}},
    "grounding_tokenizer_input": {"target": "grounding_input.text_grounding_tokinzer_input.GroundingNetInput"},
}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-level alphabet: printable bytes map to themselves, the rest to code points from 256."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clip_bpe_file() -> Path:
    """open_clip's bundled CLIP merges file (``open_clip.tokenizer.default_bpe()``), found without importing
    open_clip: its ``__init__`` imports torchvision, timm and transformers' model registry, seconds of every smoke
    job that only needs this file."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("open_clip is not installed: it ships CLIP's BPE merges file (pip install open_clip_torch)")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


def build_clip_tokenizer():
    """CLIPTokenizer with CLIP's 49408-token BPE vocabulary, built from open_clip's bundled merges file."""
    from transformers import CLIPTokenizer

    lines = gzip.open(clip_bpe_file()).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={v: i for i, v in enumerate(vocab)}, merges=merges, model_max_length=77,
                         pad_token="<|endoftext|>")


def write_clip_tokenizer(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    build_clip_tokenizer().save_pretrained(str(out_dir))
    return out_dir


# ---------------------------------------------------------------------------------------------- tensors
def _state_dict(tensors: dict[str, torch.Tensor]) -> OrderedDict:
    """An OrderedDict with the ``_metadata`` that ``nn.Module.state_dict`` attaches (a version per module path)."""
    out = OrderedDict(tensors)
    prefixes = {""}
    for name in tensors:
        parts = name.split(".")[:-1]
        prefixes.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    out._metadata = OrderedDict((p, {"version": 1}) for p in sorted(prefixes))
    return out


def _random(name: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Seeded values that keep a tiny forward pass finite and make InstanceDiffusion's parts matter: open fuser
    gates, random ScaleU, unit-scale null features, fan-in scaled weights, near-identity norms."""
    last = name.rsplit(".", 1)[-1]
    rand = torch.randn(shape, generator=gen)
    if last in ("alpha_attn", "alpha_dense"):
        return torch.full(shape, 0.5)
    if name.startswith("scaleu_"):
        return 0.1 * rand
    if name.startswith("position_net.null_") or name == "position_net.pos_embedding":
        return rand
    if "embedding" in name:
        return 0.02 * rand
    if last == "gamma":
        return 0.1 + 0.01 * rand
    if last == "bias":
        return 0.02 * rand
    if len(shape) == 1:  # GroupNorm / LayerNorm scale
        return 1.0 + 0.05 * rand
    return rand / math.sqrt(math.prod(shape[1:]))


def _random_section(layout, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {name: _random(name, shape, gen) for name, shape in layout.items()}


def diffusion_buffers(n: int = NUM_TRAIN_TIMESTEPS, start: float = LINEAR_START, end: float = LINEAR_END) -> dict:
    """ldm ``DDPM.register_schedule`` (linear schedule, v_posterior 0): float64 arithmetic, float32 buffers."""
    betas = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float64) ** 2
    alphas = 1.0 - betas
    ac = torch.cumprod(alphas, dim=0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    values = {
        "betas": betas, "alphas_cumprod": ac, "alphas_cumprod_prev": ac_prev, "sqrt_alphas_cumprod": ac.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1.0 - ac).sqrt(), "log_one_minus_alphas_cumprod": (1.0 - ac).log(),
        "sqrt_recip_alphas_cumprod": (1.0 / ac).sqrt(), "sqrt_recipm1_alphas_cumprod": (1.0 / ac - 1).sqrt(),
        "posterior_variance": post_var, "posterior_log_variance_clipped": post_var.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * ac_prev.sqrt() / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * alphas.sqrt() / (1.0 - ac),
    }
    return {name: values[name].to(torch.float32) for name in DIFFUSION_BUFFERS}


def _training_state(model: dict[str, torch.Tensor], gen: torch.Generator, lr: float) -> tuple[dict, dict]:
    """``opt`` and ``scheduler`` as the original's trainer leaves them after one step: torch's AdamW over the
    trained parameters (state-dict order) and LambdaLR with a constant-with-warmup closure."""
    params = [torch.nn.Parameter(t.clone()) for name, t in model.items() if is_trainable(name)]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = TRAINING_ARGS["warmup_steps"]

    def lr_lambda(step: int) -> float:
        return step / max(1.0, warmup) if step < warmup else 1.0

    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    opt.step()
    scheduler.step()
    return opt.state_dict(), scheduler.state_dict()


def training_config_dict(cfg: ModelConfig) -> dict:
    """``vars()`` of the OmegaConf DictConfig the original trainer pickles as ``config_dict``."""
    from omegaconf import OmegaConf

    conf = OmegaConf.create({**original_config(cfg, LINEAR_START, LINEAR_END, NUM_TRAIN_TIMESTEPS), **TRAINING_EXTRA})
    conf.update(TRAINING_ARGS)
    conf.total_batch_size = TRAINING_ARGS["batch_size"]
    return vars(conf)


def tiny_original_checkpoint(seed: int = 0, cfg: ModelConfig | None = None) -> dict:
    """The tiny model in the release's container (see the module docstring)."""
    cfg = cfg or ModelConfig.tiny()
    gen = torch.Generator().manual_seed(seed)
    model = _random_section(unet_layout(cfg), gen)
    ema = {name: (t + 0.01 * torch.randn(t.shape, generator=gen)) if is_trainable(name) else t.clone()
           for name, t in model.items()}
    autoencoder = _random_section(autoencoder_layout(cfg), gen)
    text_layout = text_encoder_layout(cfg)
    text = _random_section({k: v for k, v in text_layout.items() if k != TEXT_POSITION_IDS_427}, gen)
    n_pos = text_layout[TEXT_POSITION_IDS_427][1]
    text = {TEXT_POSITION_IDS_427: torch.arange(n_pos).expand((1, -1)), **text}
    opt, scheduler = _training_state(model, gen, TRAINING_ARGS["base_learning_rate"])
    return {
        "model": _state_dict(model), "text_encoder": _state_dict(text), "autoencoder": _state_dict(autoencoder),
        "opt": opt, "scheduler": scheduler, "iters": 1, "config_dict": training_config_dict(cfg),
        "diffusion": _state_dict(diffusion_buffers()), "ema": _state_dict(ema),
    }


def write_tiny_checkpoint(ckpt_path: str | Path, tokenizer_dir: str | Path | None = None, seed: int = 0) -> Path:
    """Write the tiny release-container checkpoint and (when given) the CLIP tokenizer folder, atomically."""
    ckpt_path = Path(ckpt_path)
    with atomic_path(ckpt_path) as tmp:
        torch.save(tiny_original_checkpoint(seed), tmp)
    if tokenizer_dir is not None:
        write_clip_tokenizer(tokenizer_dir)
    log.info("wrote tiny InstanceDiffusion checkpoint %s and tokenizer %s", ckpt_path, tokenizer_dir)
    return ckpt_path
