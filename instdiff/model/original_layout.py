"""The ORIGINAL code's parameter names and shapes, enumerated from its module structure (reference §1-§2).

This is the writer's side of the release container, kept apart from our diffusers model on purpose: the tiny smoke
checkpoint is written from these tables, so the converter is tested on the names the original's modules produce, not
on names derived from our own ``state_dict``. Each function follows the constructor of one original module in
registration order (a module's own parameters and buffers first, then its children), which is how
``nn.Module.state_dict`` orders keys:

* ``unet_layout``: ``ldm.modules.diffusionmodules.openaimodel.UNetModel`` with ScaleU (``scaleu_b_i``/``scaleu_s_i``,
  registered inside the decoder loop, so first in the state dict), ResBlocks, SpatialTransformers whose
  BasicTransformerBlock holds the gated self-attention ``fuser``, and ``position_net`` (``UniFusion``: null features,
  ``in_conv``, the ConvNeXt trunk, five MLPs);
* ``autoencoder_layout``: ``ldm.models.autoencoder.AutoencoderKL`` (ldm ``Encoder``/``Decoder``, 1x1-conv attention);
* ``text_encoder_layout``: ``FrozenCLIPEmbedder`` holding a transformers-4.27 ``CLIPTextModel`` as ``transformer``
  (``transformer.text_model.*`` with the persistent ``position_ids`` buffer of 4.27);
* ``DIFFUSION_BUFFERS``: the 12 schedule buffers of ldm's ``DDPM.register_schedule``.

Sizes come from ``ModelConfig`` so the same tables describe the release (checked against the reference's key list
and its parameter counts) and the tiny smoke model.
"""

from __future__ import annotations

from collections import OrderedDict

from instdiff.model.config import ModelConfig
from instdiff.core.original_constants import (
    FOURIER_FREQS,
    MAX_OBJS,
    N_POLYGON_POINTS,
    N_SCRIBBLE_POINTS,
    NUM_SEG_TOKENS,
    SEG_RESOLUTION,
)


DIFFUSION_BUFFERS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)
TEXT_POSITION_IDS_427 = "transformer.text_model.embeddings.position_ids"


def is_trainable(name: str) -> bool:
    """The names the original trains (``utils/optimizer.py`` ``get_trainable_params``): fusers, position net, ScaleU.
    All others are the frozen SD1.5 weights, identical in ``model`` and ``ema``."""
    return ("transformer_blocks" in name and "fuser" in name) or "position_net" in name \
        or "downsample_net" in name or "scaleu" in name


# ---------------------------------------------------------------------------------------------- small modules
def _linear(out: dict, prefix: str, n_in: int, n_out: int, bias: bool = True) -> None:
    out[f"{prefix}.weight"] = (n_out, n_in)
    if bias:
        out[f"{prefix}.bias"] = (n_out,)


def _conv(out: dict, prefix: str, n_in: int, n_out: int, k: int, groups: int = 1) -> None:
    out[f"{prefix}.weight"] = (n_out, n_in // groups, k, k)
    out[f"{prefix}.bias"] = (n_out,)


def _norm(out: dict, prefix: str, n: int) -> None:
    out[f"{prefix}.weight"] = (n,)
    out[f"{prefix}.bias"] = (n,)


def _resblock(out: dict, prefix: str, c_in: int, c_out: int, emb: int) -> None:
    """openaimodel.ResBlock: in_layers (GroupNorm, SiLU, conv), emb_layers (SiLU, linear), out_layers
    (GroupNorm, SiLU, Dropout, conv), skip_connection (1x1 conv only when the width changes)."""
    _norm(out, f"{prefix}.in_layers.0", c_in)
    _conv(out, f"{prefix}.in_layers.2", c_in, c_out, 3)
    _linear(out, f"{prefix}.emb_layers.1", emb, c_out)
    _norm(out, f"{prefix}.out_layers.0", c_out)
    _conv(out, f"{prefix}.out_layers.3", c_out, c_out, 3)
    if c_in != c_out:
        _conv(out, f"{prefix}.skip_connection", c_in, c_out, 1)


def _attention(out: dict, prefix: str, c: int, kv: int) -> None:
    """SelfAttention / CrossAttention: q, k, v without bias, ``to_out`` = (Linear, Dropout)."""
    _linear(out, f"{prefix}.to_q", c, c, bias=False)
    _linear(out, f"{prefix}.to_k", kv, c, bias=False)
    _linear(out, f"{prefix}.to_v", kv, c, bias=False)
    _linear(out, f"{prefix}.to_out.0", c, c)


def _geglu_ff(out: dict, prefix: str, c: int) -> None:
    _linear(out, f"{prefix}.net.0.proj", c, 8 * c)  # GEGLU: 4c inner width, value and gate
    _linear(out, f"{prefix}.net.2", 4 * c, c)


def _spatial_transformer(out: dict, prefix: str, c: int, context: int) -> None:
    """SpatialTransformer (norm, proj_in, transformer_blocks.0, proj_out); BasicTransformerBlock registers
    attn1, ff, attn2, norm1-3, then the fuser (GatedSelfAttentionDense: alpha_attn/alpha_dense are its own
    parameters, so they come before linear, attn, ff, norm1, norm2)."""
    _norm(out, f"{prefix}.norm", c)
    _conv(out, f"{prefix}.proj_in", c, c, 1)
    blk = f"{prefix}.transformer_blocks.0"
    _attention(out, f"{blk}.attn1", c, c)
    _geglu_ff(out, f"{blk}.ff", c)
    _attention(out, f"{blk}.attn2", c, context)
    for n in ("norm1", "norm2", "norm3"):
        _norm(out, f"{blk}.{n}", c)
    fuser = f"{blk}.fuser"
    out[f"{fuser}.alpha_attn"] = ()
    out[f"{fuser}.alpha_dense"] = ()
    _linear(out, f"{fuser}.linear", context, c)
    _attention(out, f"{fuser}.attn", c, c)
    _geglu_ff(out, f"{fuser}.ff", c)
    _norm(out, f"{fuser}.norm1", c)
    _norm(out, f"{fuser}.norm2", c)
    _conv(out, f"{prefix}.proj_out", c, c, 1)


# ---------------------------------------------------------------------------------------------- UNetModel
def _position_net(out: dict, cfg: ModelConfig) -> None:
    """UniFusion with ``use_seperate_tokenizer``: null features, in_conv 30->3, ConvNeXt trunk, MLPs 0-4."""
    p, pn = "position_net", cfg.position_net
    fourier = {"position": 2 * FOURIER_FREQS * 4, "point": 2 * FOURIER_FREQS * 2,
               "scribble": 2 * FOURIER_FREQS * 2 * N_SCRIBBLE_POINTS,
               "polygon": 2 * FOURIER_FREQS * 2 * N_POLYGON_POINTS}
    grid = SEG_RESOLUTION // 4 // 2 ** (len(pn.convnext_dims) - 1)  # stem stride 4, then 2 per downsample
    seg_dim = pn.convnext_dims[-1] * grid * grid // NUM_SEG_TOKENS
    out[f"{p}.pos_embedding"] = (1, NUM_SEG_TOKENS, seg_dim)
    out[f"{p}.null_positive_feature"] = (pn.in_dim,)
    for name, dim in fourier.items():
        out[f"{p}.null_{name}_feature"] = (dim,)
    out[f"{p}.null_seg_feature"] = (seg_dim,)
    _conv(out, f"{p}.in_conv", MAX_OBJS, 3, 3)
    trunk, dims = f"{p}.convnext_tiny_backbone", pn.convnext_dims
    out[f"{trunk}.downsample_layers.0.0.weight"] = (dims[0], 3, 4, 4)
    out[f"{trunk}.downsample_layers.0.0.bias"] = (dims[0],)
    _norm(out, f"{trunk}.downsample_layers.0.1", dims[0])
    for i in range(1, len(dims)):
        _norm(out, f"{trunk}.downsample_layers.{i}.0", dims[i - 1])
        out[f"{trunk}.downsample_layers.{i}.1.weight"] = (dims[i], dims[i - 1], 2, 2)
        out[f"{trunk}.downsample_layers.{i}.1.bias"] = (dims[i],)
    for s, (d, depth) in enumerate(zip(dims, pn.convnext_depths)):
        for b in range(depth):
            blk = f"{trunk}.stages.{s}.{b}"
            out[f"{blk}.gamma"] = (d,)
            _conv(out, f"{blk}.dwconv", d, d, 7, groups=d)
            _norm(out, f"{blk}.norm", d)
            _linear(out, f"{blk}.pwconv1", d, 4 * d)
            _linear(out, f"{blk}.pwconv2", 4 * d, d)
    ins = [pn.in_dim + fourier[k] for k in ("position", "point", "scribble", "polygon")] + [seg_dim]
    for i, n_in in enumerate(ins):
        _linear(out, f"{p}.linears_list.{i}.0", n_in, pn.mid_dim)
        _linear(out, f"{p}.linears_list.{i}.2", pn.mid_dim, pn.mid_dim)
        _linear(out, f"{p}.linears_list.{i}.4", pn.mid_dim, pn.out_dim)


def unet_layout(cfg: ModelConfig) -> OrderedDict[str, tuple[int, ...]]:
    """Every key of ``ckpt['model']`` / ``ckpt['ema']`` with its shape, in the original's state-dict order."""
    u = cfg.unet
    mc = u.block_out_channels[0]
    emb = 4 * mc
    levels = len(u.block_out_channels)
    num_res = u.layers_per_block
    attn_at = {2 ** lvl for lvl, on in enumerate(u.attention_levels) if on}  # ldm attention_resolutions (ds)
    scaleu: dict = OrderedDict()
    body: dict = OrderedDict()
    _linear(body, "time_embed.0", mc, emb)
    _linear(body, "time_embed.2", emb, emb)
    _conv(body, "input_blocks.0.0", u.in_channels, mc, 3)
    chans, ch, ds, k = [mc], mc, 1, 1
    for lvl in range(levels):
        for _ in range(num_res):
            c_out = u.block_out_channels[lvl]
            _resblock(body, f"input_blocks.{k}.0", ch, c_out, emb)
            ch = c_out
            if ds in attn_at:
                _spatial_transformer(body, f"input_blocks.{k}.1", ch, u.cross_attention_dim)
            chans.append(ch)
            k += 1
        if lvl != levels - 1:
            _conv(body, f"input_blocks.{k}.0.op", ch, ch, 3)
            chans.append(ch)
            ds *= 2
            k += 1
    _resblock(body, "middle_block.0", ch, ch, emb)
    _spatial_transformer(body, "middle_block.1", ch, u.cross_attention_dim)
    _resblock(body, "middle_block.2", ch, ch, emb)
    idx = 0
    for lvl in reversed(range(levels)):
        for i in range(num_res + 1):
            ich = chans.pop()
            c_out = u.block_out_channels[lvl]
            _resblock(body, f"output_blocks.{idx}.0", ch + ich, c_out, emb)
            scaleu[f"scaleu_b_{idx}"] = (ch,)  # the width of h entering this block, before the skip concat
            scaleu[f"scaleu_s_{idx}"] = (1,)
            ch = c_out
            sub = 1
            if ds in attn_at:
                _spatial_transformer(body, f"output_blocks.{idx}.1", ch, u.cross_attention_dim)
                sub = 2
            if lvl and i == num_res:
                _conv(body, f"output_blocks.{idx}.{sub}.conv", ch, ch, 3)
                ds //= 2
            idx += 1
    _norm(body, "out.0", ch)
    _conv(body, "out.2", mc, u.out_channels, 3)
    _position_net(body, cfg)
    return OrderedDict(list(scaleu.items()) + list(body.items()))


# ---------------------------------------------------------------------------------------------- AutoencoderKL
def _vae_resnet(out: dict, prefix: str, c_in: int, c_out: int) -> None:
    _norm(out, f"{prefix}.norm1", c_in)
    _conv(out, f"{prefix}.conv1", c_in, c_out, 3)
    _norm(out, f"{prefix}.norm2", c_out)
    _conv(out, f"{prefix}.conv2", c_out, c_out, 3)
    if c_in != c_out:
        _conv(out, f"{prefix}.nin_shortcut", c_in, c_out, 1)


def _vae_mid(out: dict, prefix: str, c: int) -> None:
    _vae_resnet(out, f"{prefix}.block_1", c, c)
    _norm(out, f"{prefix}.attn_1.norm", c)
    for n in ("q", "k", "v", "proj_out"):
        _conv(out, f"{prefix}.attn_1.{n}", c, c, 1)
    _vae_resnet(out, f"{prefix}.block_2", c, c)


def autoencoder_layout(cfg: ModelConfig) -> OrderedDict[str, tuple[int, ...]]:
    """ldm AutoencoderKL (double_z, attn_resolutions []): encoder, decoder, quant_conv, post_quant_conv."""
    v = cfg.vae
    widths, num_res, z = v.block_out_channels, v.layers_per_block, v.latent_channels
    out: dict = OrderedDict()
    _conv(out, "encoder.conv_in", 3, widths[0], 3)
    c = widths[0]
    for i, w in enumerate(widths):
        for j in range(num_res):
            _vae_resnet(out, f"encoder.down.{i}.block.{j}", c, w)
            c = w
        if i != len(widths) - 1:
            _conv(out, f"encoder.down.{i}.downsample.conv", c, c, 3)
    _vae_mid(out, "encoder.mid", c)
    _norm(out, "encoder.norm_out", c)
    _conv(out, "encoder.conv_out", c, 2 * z, 3)
    c = widths[-1]
    _conv(out, "decoder.conv_in", z, c, 3)
    _vae_mid(out, "decoder.mid", c)
    ups: list[dict] = []
    for i in reversed(range(len(widths))):  # built top-down, inserted at 0: ``up.{i}`` is level i
        level: dict = OrderedDict()
        for j in range(num_res + 1):
            _vae_resnet(level, f"decoder.up.{i}.block.{j}", c, widths[i])
            c = widths[i]
        if i != 0:
            _conv(level, f"decoder.up.{i}.upsample.conv", c, c, 3)
        ups.insert(0, level)
    for level in ups:
        out.update(level)
    _norm(out, "decoder.norm_out", c)
    _conv(out, "decoder.conv_out", c, 3, 3)
    _conv(out, "quant_conv", 2 * z, 2 * z, 1)
    _conv(out, "post_quant_conv", z, z, 1)
    return out


# ---------------------------------------------------------------------------------------------- text encoder
def text_encoder_layout(cfg: ModelConfig) -> OrderedDict[str, tuple[int, ...]]:
    """FrozenCLIPEmbedder.state_dict() under transformers 4.27: ``transformer.text_model.*``, with the
    ``position_ids`` buffer (persistent in 4.27) saved before the embedding weights."""
    t = cfg.text_encoder
    h, p = t.hidden_size, "transformer.text_model"
    out: dict = OrderedDict()
    out[TEXT_POSITION_IDS_427] = (1, t.max_position_embeddings)
    out[f"{p}.embeddings.token_embedding.weight"] = (t.vocab_size, h)
    out[f"{p}.embeddings.position_embedding.weight"] = (t.max_position_embeddings, h)
    for i in range(t.num_hidden_layers):
        layer = f"{p}.encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            _linear(out, f"{layer}.self_attn.{proj}", h, h)
        _norm(out, f"{layer}.layer_norm1", h)
        _linear(out, f"{layer}.mlp.fc1", h, t.intermediate_size)
        _linear(out, f"{layer}.mlp.fc2", t.intermediate_size, h)
        _norm(out, f"{layer}.layer_norm2", h)
    _norm(out, f"{p}.final_layer_norm", h)
    return out


# ---------------------------------------------------------------------------------------------- yaml config
def original_config(cfg: ModelConfig, linear_start: float, linear_end: float, timesteps: int) -> dict:
    """The architecture part of the original's ``configs/train_sd15.yaml`` for these sizes (reference §3)."""
    u, v, pn = cfg.unet, cfg.vae, cfg.position_net
    mc = u.block_out_channels[0]
    return {
        "diffusion": {"target": "ldm.models.diffusion.ldm.LatentDiffusion",
                      "params": {"linear_start": linear_start, "linear_end": linear_end, "timesteps": timesteps}},
        "model": {
            "target": "ldm.modules.diffusionmodules.openaimodel.UNetModel",
            "params": {
                "image_size": u.sample_size, "in_channels": u.in_channels, "out_channels": u.out_channels,
                "model_channels": mc,
                "attention_resolutions": sorted((2 ** i for i, on in enumerate(u.attention_levels) if on), reverse=True),
                "num_res_blocks": u.layers_per_block, "channel_mult": [c // mc for c in u.block_out_channels],
                "num_heads": u.num_heads, "transformer_depth": 1, "context_dim": u.cross_attention_dim,
                "fuser_type": "gatedSA", "use_checkpoint": True, "sd_v1_5": True, "efficient_attention": True,
                "grounding_tokenizer": {
                    "target": "ldm.modules.diffusionmodules.text_grounding_net.UniFusion",
                    "params": {"in_dim": pn.in_dim, "out_dim": pn.out_dim, "mid_dim": pn.mid_dim,
                               "train_add_boxes": True, "train_add_points": True, "train_add_scribbles": True,
                               "train_add_masks": True, "test_drop_boxes": False, "test_drop_points": False,
                               "test_drop_scribbles": True, "test_drop_masks": False,
                               "use_seperate_tokenizer": True},
                },
            },
        },
        "autoencoder": {
            "target": "ldm.models.autoencoder.AutoencoderKL",
            "params": {"scale_factor": v.scaling_factor, "embed_dim": v.latent_channels,
                       "ddconfig": {"double_z": True, "z_channels": v.latent_channels, "resolution": 256,
                                    "in_channels": 3, "out_ch": 3, "ch": v.block_out_channels[0],
                                    "ch_mult": [c // v.block_out_channels[0] for c in v.block_out_channels],
                                    "num_res_blocks": v.layers_per_block, "attn_resolutions": [], "dropout": 0.0}},
        },
        "text_encoder": {"target": "ldm.modules.encoders.modules.FrozenCLIPEmbedder"},
    }
