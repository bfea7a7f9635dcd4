"""InstanceDiffusion's denoiser on a diffusers ``UNet2DConditionModel``.

* the trunk is a diffusers UNet with ``attention_type="gated"``: diffusers' ``GatedSelfAttentionDense`` sits in every
  ``BasicTransformerBlock`` after attn1 and before attn2, with the original fuser's parameter names (reference §8.1);
  we swap each for ``ScaledGatedSelfAttentionDense``, which adds the original's numeric gate ``scale``
  (x + scale*tanh(alpha)*...), set per call for the alpha schedule;
* the instance tokens come from ``UniFusion`` (our module) and reach the fusers through diffusers' own GLIGEN path
  (``cross_attention_kwargs["gligen"]``); diffusers' box-only GLIGEN projection is replaced by a pass-through;
* ScaleU parameters ``scaleu_b_i`` / ``scaleu_s_i`` live on this module and act through pre-hooks on the 12 decoder
  resnets (instdiff.model.scaleu).

The unconditional pass of classifier-free guidance uses the original's null grounding input (every tensor zero):
the 184 null tokens still flow through all fusers and ScaleU still applies (reference §1.3.5, fixture README §9.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.models.attention import GatedSelfAttentionDense
from torch import nn

from instdiff.model.config import ModelConfig, UNetConfig
from instdiff.model.masked_attention import instance_attention_mask
from instdiff.model.position_net import GROUNDING_KEYS, UniFusion, null_grounding
from instdiff.model.precision import at_least_fp32, install_norm_islands
from instdiff.model.scaleu import decoder_resnets, install_scaleu_hooks


class ScaledGatedSelfAttentionDense(GatedSelfAttentionDense):
    """diffusers' gated self-attention with the original's numeric gate scale (``set_alpha_scale``).

    x <- x + scale*tanh(alpha_attn)*SelfAttn(LN1([x, linear(objs)]))[:, :HW];  x <- x + scale*tanh(alpha_dense)*FF(LN2(x)).
    scale = 0 returns x unchanged (identical to adding 0 times a finite update) and skips the work.
    """

    def __init__(self, query_dim: int, context_dim: int, n_heads: int, d_head: int):
        super().__init__(query_dim, context_dim, n_heads, d_head)
        self.scale = 1.0
        self.att_mask: torch.Tensor | None = None  # (B,1,N,N) bool, set per call when use_masked_att is on

    def forward(self, x: torch.Tensor, objs: torch.Tensor) -> torch.Tensor:
        if not self.enabled or self.scale == 0:
            return x
        n_visual = x.shape[1]
        objs = self.linear(objs)
        tokens = self.norm1(torch.cat([x, objs], dim=1))
        if self.att_mask is not None and self.att_mask.shape[-1] == tokens.shape[1]:
            attended = self._masked_attention(tokens, self.att_mask)
        else:
            attended = self.attn(tokens)
        x = x + self.scale * self.alpha_attn.tanh() * attended[:, :n_visual, :]
        x = x + self.scale * self.alpha_dense.tanh() * self.ff(self.norm2(x))
        return x

    def _masked_attention(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention of ``self.attn``'s weights restricted to the allowed pairs of ``mask``."""
        attn, (b, n, _) = self.attn, tokens.shape
        q, k, v = (proj(tokens).view(b, n, attn.heads, -1).transpose(1, 2) for proj in (attn.to_q, attn.to_k, attn.to_v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(tokens.device))
        return attn.to_out[1](attn.to_out[0](out.transpose(1, 2).reshape(b, n, -1)))


class PrecomputedTokens(nn.Module):
    """Stands where diffusers puts its GLIGEN projection: the tokens are computed by UniFusion beforehand."""

    def forward(self, objs: torch.Tensor) -> torch.Tensor:
        return objs


def build_diffusers_unet(cfg: UNetConfig) -> UNet2DConditionModel:
    """The SD1.5-layout diffusers UNet for ``cfg`` with gated fusers (diffusers names, no position net)."""
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention_levels)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention_levels))
    unet = UNet2DConditionModel(
        sample_size=cfg.sample_size,
        in_channels=cfg.in_channels,
        out_channels=cfg.out_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        cross_attention_dim=cfg.cross_attention_dim,
        attention_head_dim=cfg.num_heads,  # diffusers' legacy SD naming: this is the number of heads
        norm_num_groups=cfg.norm_num_groups,
        attention_type="gated",
        flip_sin_to_cos=True,
        freq_shift=0,
    )
    unet.position_net = PrecomputedTokens()
    for module in list(unet.modules()):
        fuser = getattr(module, "fuser", None)
        if isinstance(fuser, GatedSelfAttentionDense) and not isinstance(fuser, ScaledGatedSelfAttentionDense):
            query_dim, context_dim = fuser.linear.out_features, fuser.linear.in_features
            heads = fuser.attn.heads
            module.fuser = ScaledGatedSelfAttentionDense(query_dim, context_dim, heads, query_dim // heads)
    return unet


class InstanceDiffusionUNet(nn.Module):
    """UNet + UniFusion + ScaleU. Call ``eps = unet(sample, timestep, encoder_hidden_states, grounding, gate_scale)``.

    * ``sample`` (B,4,64,64); ``timestep`` an int, a 0-d tensor or a (B,) tensor (the original passes int64 t);
    * ``encoder_hidden_states`` (B,77,context_dim) CLIP last hidden state of the prompt (or negative prompt);
    * ``grounding`` a dict with the keys of ``GROUNDING_KEYS`` (batch B, per-sample inputs) or None for the null
      input of the unconditional pass (all zero; batch rows that are unconditional should be all-zero rows, see
      ``instdiff.model.position_net.stack_grounding``);
    * ``gate_scale`` a float applied to all 16 fusers for this call (1 on alpha-on steps, 0 after);
    * ``location`` (keyword) overrides the drop flags of the test config (box | mask | point | scribble) for this call;
    * ``grounding`` may also be the output of ``encode_grounding`` (tokens computed once, reused every step).

    ``use_masked_att`` (off by default, as in the original) masks the fuser self-attention of the full-resolution
    blocks by instance boxes when ``grounding`` carries ``att_masks`` (B,30,64,64) (instdiff.model.masked_attention).
    """

    def __init__(self, config: ModelConfig | None = None, location: str = "mask", use_masked_att: bool = False):
        super().__init__()
        self.config = config or ModelConfig.sd15()
        self.use_masked_att = use_masked_att
        self.unet = build_diffusers_unet(self.config.unet)
        self.position_net = UniFusion(self.config.position_net, location=location)
        for idx, resnet in enumerate(decoder_resnets(self.unet)):
            c_h = self._backbone_channels(idx)
            self.register_parameter(f"scaleu_b_{idx}", nn.Parameter(torch.zeros(c_h)))
            self.register_parameter(f"scaleu_s_{idx}", nn.Parameter(torch.zeros(1)))
        self._hooks = install_scaleu_hooks(self.unet, self)
        # LayerNorm / GroupNorm statistics in float32 in every precision mode (instdiff.model.precision).
        install_norm_islands(self)

    def _backbone_channels(self, idx: int) -> int:
        """Channels of h (before the skip is concatenated) entering decoder resnet idx."""
        chans = list(reversed(self.config.unet.block_out_channels))
        per_block = self.config.unet.layers_per_block + 1
        block, j = divmod(idx, per_block)
        if j == 0:
            return chans[max(block - 1, 0)]
        return chans[block]

    @property
    def fusers(self) -> list[ScaledGatedSelfAttentionDense]:
        return [m for m in self.unet.modules() if isinstance(m, ScaledGatedSelfAttentionDense)]

    def set_location(self, location: str) -> None:
        self.position_net.set_location(location)

    def set_gate_scale(self, scale: float) -> None:
        for fuser in self.fusers:
            fuser.scale = float(scale)

    @property
    def dtype(self) -> torch.dtype:
        return self.position_net.null_positive_feature.dtype

    @property
    def device(self) -> torch.device:
        return self.position_net.null_positive_feature.device

    def encode_grounding(self, grounding: dict | None, batch: int = 1, location: str | None = None) -> dict:
        """Run the instance tokenizer once: ``{"objs", "drop_box_mask"[, "att_masks"]}``. The tokens do not depend
        on the timestep or the latent, so a sampler may pass this dict as ``grounding`` at every step."""
        if grounding is None:
            grounding = null_grounding(batch, self.config.position_net.in_dim, self.device, at_least_fp32(self.dtype))
        missing = [k for k in GROUNDING_KEYS if k not in grounding]
        if missing:
            raise KeyError(f"grounding dict lacks {missing}; expected keys {GROUNDING_KEYS}")
        objs, drop_box_mask = self.position_net(**{k: grounding[k].to(self.device) for k in GROUNDING_KEYS},
                                                location=location)
        out = {"objs": objs, "drop_box_mask": drop_box_mask}
        if grounding.get("att_masks") is not None:
            out["att_masks"] = grounding["att_masks"]
        return out

    def forward(self, sample, timestep, encoder_hidden_states, grounding=None, gate_scale: float = 1.0, *, location=None):
        b = sample.shape[0]
        if grounding is None or "objs" not in grounding:
            grounding = self.encode_grounding(grounding, b, location)
        objs, drop_box_mask = grounding["objs"], grounding["drop_box_mask"]
        if objs.shape[0] != b:
            raise ValueError(f"grounding batch {objs.shape[0]} != sample batch {b}")
        att_mask = None
        if self.use_masked_att and grounding.get("att_masks") is not None and not drop_box_mask:
            att_mask = instance_attention_mask(grounding["att_masks"].to(sample.device))
        for fuser in self.fusers:
            fuser.att_mask = att_mask
        self.set_gate_scale(gate_scale)
        if not torch.is_tensor(timestep):
            timestep = torch.tensor(timestep, dtype=torch.int64, device=sample.device)
        return self.unet(
            sample,
            timestep.to(sample.device),
            encoder_hidden_states=encoder_hidden_states,
            cross_attention_kwargs={"gligen": {"objs": objs.to(sample.dtype)}},
            return_dict=False,
        )[0]
