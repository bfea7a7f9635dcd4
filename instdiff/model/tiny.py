"""Tiny random InstanceDiffusion for the smoke config, written in the ORIGINAL checkpoint format.

``write_tiny_checkpoint`` builds ``ModelConfig.tiny()`` components with seeded random weights and saves them as the
original file does: a ``torch.save`` dict with ``model`` (UNetModel names: ``input_blocks.*``, ``position_net.*``,
``scaleu_*``, fusers inside their transformer blocks), ``autoencoder`` (ldm AutoencoderKL names, 1x1-conv attention)
and ``text_encoder`` (``transformer.text_model.*`` incl. the ``position_ids`` buffer). The smoke run then goes
through the real converter and loader. Images are still 512x512 (64x64 latents, VAE factor 8).

``write_clip_tokenizer`` builds the real CLIP BPE tokenizer (49408 tokens) offline from open_clip's bundled
vocabulary, following OpenAI's SimpleTokenizer construction; its ids equal open_clip's and OpenAI's.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import torch

from instdiff.io import atomic_path
from instdiff.model import keymap
from instdiff.model.config import ModelConfig
from instdiff.model.convert import build_text_encoder, build_vae
from instdiff.model.unet import InstanceDiffusionUNet

log = logging.getLogger(__name__)


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


def build_clip_tokenizer():
    """CLIPTokenizer with CLIP's 49408-token BPE vocabulary, built from open_clip's bundled merges file."""
    import open_clip.tokenizer as oct
    from transformers import CLIPTokenizer

    lines = gzip.open(oct.default_bpe()).read().decode("utf-8").split("\n")
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


def _randomise(unet: InstanceDiffusionUNet, gen: torch.Generator) -> None:
    """Make the InstanceDiffusion parts matter: open fuser gates, random ScaleU, unit-scale null features."""
    with torch.no_grad():
        for name, p in unet.named_parameters():
            last = name.rsplit(".", 1)[-1]
            if last in ("alpha_attn", "alpha_dense"):
                p.fill_(0.5)
            elif name.startswith("scaleu_"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.startswith("position_net.null_") or name == "position_net.pos_embedding":
                p.copy_(torch.randn(p.shape, generator=gen))


def tiny_original_checkpoint(seed: int = 0) -> dict:
    """The tiny model's weights under the original checkpoint's names and layout."""
    cfg = ModelConfig.tiny()
    torch.manual_seed(seed)  # module constructors draw their default init from the global generator
    gen = torch.Generator().manual_seed(seed)
    unet = InstanceDiffusionUNet(cfg)
    _randomise(unet, gen)
    vae = build_vae(cfg)
    te = build_text_encoder(cfg)

    model = {keymap.unet_to_original(k, cfg.unet): v.clone() for k, v in unet.state_dict().items()}
    autoencoder = {}
    for k, v in vae.state_dict().items():
        if keymap.is_vae_attention_weight(k):
            v = v.reshape(*v.shape, 1, 1)  # ldm's AttnBlock uses 1x1 convs
        autoencoder[keymap.vae_to_original(k, cfg.vae)] = v.clone()
    text = {keymap.text_to_original(k): v.clone() for k, v in te.state_dict().items()}
    text[keymap.TEXT_POSITION_IDS] = torch.arange(cfg.text_encoder.max_position_embeddings).unsqueeze(0)
    if None in model or None in autoencoder:
        raise RuntimeError("tiny model has a parameter without an original name")
    return {"model": model, "autoencoder": autoencoder, "text_encoder": text, "iters": 0}


def write_tiny_checkpoint(ckpt_path: str | Path, tokenizer_dir: str | Path, seed: int = 0) -> Path:
    """Write the tiny original-format checkpoint and the CLIP tokenizer folder (atomically)."""
    ckpt_path = Path(ckpt_path)
    with atomic_path(ckpt_path) as tmp:
        torch.save(tiny_original_checkpoint(seed), tmp)
    write_clip_tokenizer(tokenizer_dir)
    log.info("wrote tiny InstanceDiffusion checkpoint %s and tokenizer %s", ckpt_path, tokenizer_dir)
    return ckpt_path
