"""UniFusion: InstanceDiffusion's instance tokenizer (``position_net`` in the checkpoint).

Turns per-instance text + location inputs of 30 slots into 184 tokens of width ``out_dim``
(reference §1.3): box(30) | point(30) | scribble(30) | polygon(30) | seg(64), in that fixed order.

Inputs (the grounding dict, per batch element, N = 30 slots):
  boxes (B,30,4) normalised xyxy; masks (B,30) slot validity; positive_embeddings (B,30,in_dim) pooled CLIP text;
  points (B,30,2); scribbles (B,30,40) 20 points; polygons (B,30,512) 256 points; segs (B,30,512,512) instance masks.

Null / drop rules at inference, with m the slot validity (reference §1.3.5):
  text: m*text + (1-m)*null_positive;
  box, point: m' = 0 if the config drops them else m; emb = m'*F(x) + (1-m')*null;
  scribble, polygon: m' = 0 if dropped else [sum(coords) + m > 0] (a valid slot with all-zero coordinates keeps
  the Fourier embedding of zeros, as the original does);
  seg: per batch element, m_seg = 0 if dropped else [any pixel of any slot non-zero];
  if every modality is dropped, boxes are switched back on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from instdiff.model.config import LOCATION_DROPS, PositionNetConfig
from instdiff.model.convnext import ConvNeXtTrunk
from instdiff.model.precision import at_least_fp32, autocast_off, upcast
from instdiff.core.original_constants import (
    FOURIER_FREQS,
    MAX_OBJS,
    N_POLYGON_POINTS,
    N_SCRIBBLE_POINTS,
    NUM_SEG_TOKENS,
    SEG_RESOLUTION,
)

GROUNDING_KEYS = ("boxes", "masks", "positive_embeddings", "scribbles", "polygons", "segs", "points")


def fourier_embed(x: torch.Tensor, num_freqs: int = FOURIER_FREQS, temperature: float = 100.0) -> torch.Tensor:
    """GLIGEN Fourier features: for f_k = temperature**(k/num_freqs) (evaluated in float32 like the original),
    concat over k of [sin(f_k x), cos(f_k x)] along the last axis; output width 2*num_freqs*D, frequency-major.

    A float32 island in every precision mode (instdiff.model.precision): half-precision coordinates or products
    put phase errors of up to f_k*|x|*2^-11 (fp16) or 2^-8 (bf16) into sin/cos, with f_k up to ~75.
    """
    x = upcast(x)
    with autocast_off(x.device.type):
        bands = temperature ** (torch.arange(num_freqs, dtype=torch.float32, device=x.device) / num_freqs)
        parts = []
        for f in bands.to(x.dtype):
            parts += [torch.sin(f * x), torch.cos(f * x)]
        return torch.cat(parts, dim=-1)


def _mlp(in_dim: int, mid_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, mid_dim), nn.SiLU(), nn.Linear(mid_dim, mid_dim), nn.SiLU(), nn.Linear(mid_dim, out_dim))


def effective_drops(location: str) -> dict[str, bool]:
    """The drop flags a test config applies at inference, with the original's 'all dropped -> keep boxes' rule."""
    if location not in LOCATION_DROPS:
        raise ValueError(f"unknown location config {location!r}; expected one of {sorted(LOCATION_DROPS)}")
    drops = dict(LOCATION_DROPS[location])
    if all(drops.values()):
        drops["boxes"] = False
    return drops


class UniFusion(nn.Module):
    """The instance tokenizer. ``forward`` returns ``(objs (B,184,out_dim), drop_box_mask: bool)``."""

    def __init__(self, config: PositionNetConfig | None = None, location: str = "mask"):
        super().__init__()
        cfg = config or PositionNetConfig()
        self.config = cfg
        self.location = location
        effective_drops(location)  # validate early
        position_dim = 2 * FOURIER_FREQS * 4
        point_dim = 2 * FOURIER_FREQS * 2
        scribble_dim = 2 * FOURIER_FREQS * 2 * N_SCRIBBLE_POINTS
        polygon_dim = 2 * FOURIER_FREQS * 2 * N_POLYGON_POINTS
        grid = SEG_RESOLUTION // 32  # ConvNeXt output stride 32
        self.seg_feature_dim = cfg.convnext_dims[-1] * grid * grid // NUM_SEG_TOKENS

        self.in_conv = nn.Conv2d(MAX_OBJS, 3, kernel_size=3, stride=1, padding=1)
        self.convnext_tiny_backbone = ConvNeXtTrunk(3, cfg.convnext_dims, cfg.convnext_depths)
        self.pos_embedding = nn.Parameter(torch.empty(1, NUM_SEG_TOKENS, self.seg_feature_dim).normal_(std=0.02))
        self.linears_list = nn.ModuleList(
            [
                _mlp(cfg.in_dim + position_dim, cfg.mid_dim, cfg.out_dim),
                _mlp(cfg.in_dim + point_dim, cfg.mid_dim, cfg.out_dim),
                _mlp(cfg.in_dim + scribble_dim, cfg.mid_dim, cfg.out_dim),
                _mlp(cfg.in_dim + polygon_dim, cfg.mid_dim, cfg.out_dim),
                _mlp(self.seg_feature_dim, cfg.mid_dim, cfg.out_dim),
            ]
        )
        self.null_positive_feature = nn.Parameter(torch.zeros(cfg.in_dim))
        self.null_position_feature = nn.Parameter(torch.zeros(position_dim))
        self.null_point_feature = nn.Parameter(torch.zeros(point_dim))
        self.null_scribble_feature = nn.Parameter(torch.zeros(scribble_dim))
        self.null_polygon_feature = nn.Parameter(torch.zeros(polygon_dim))
        self.null_seg_feature = nn.Parameter(torch.zeros(self.seg_feature_dim))

    def set_location(self, location: str) -> None:
        effective_drops(location)
        self.location = location

    # -- pieces, public so the parity tests can check them one by one ---------------------------------------
    def seg_features(self, segs: torch.Tensor) -> torch.Tensor:
        """ConvNeXt trunk output (B, C, 16, 16) for the stacked instance masks (B, 30, 512, 512)."""
        if segs.shape[-2:] != (SEG_RESOLUTION, SEG_RESOLUTION):  # nearest resize; a no-op (skipped) at 512
            segs = F.interpolate(segs, size=(SEG_RESOLUTION, SEG_RESOLUTION), mode="nearest")
        return self.convnext_tiny_backbone(self.in_conv(segs.to(self.in_conv.weight.dtype)))

    def seg_tokens_pre_mlp(self, feat: torch.Tensor) -> torch.Tensor:
        """The original's reshape (not a pooling): contiguous (B,C,16,16) -> (B, C*256/64, 64) -> transpose."""
        b = feat.shape[0]
        return feat.contiguous().reshape(b, self.seg_feature_dim, NUM_SEG_TOKENS).transpose(1, 2)

    def forward(self, boxes, masks, positive_embeddings, scribbles, polygons, segs, points, location: str | None = None):
        drops = effective_drops(location or self.location)
        # Inputs, Fourier features and the null mixing in at least float32 (the original's dtypes under autocast);
        # each MLP casts its input to its own weight dtype (a no-op with float32 weights, where autocast casts).
        dtype = at_least_fp32(self.null_positive_feature.dtype)
        boxes, masks, text, scribbles, polygons, segs, points = (
            t.to(dtype) for t in (boxes, masks, positive_embeddings, scribbles, polygons, segs, points)
        )
        b = masks.shape[0]
        m = masks.unsqueeze(-1)
        zero = torch.zeros_like(m)

        text = m * text + (1 - m) * self.null_positive_feature.to(dtype).view(1, 1, -1)

        m_box = zero if drops["boxes"] else m
        box_emb = m_box * fourier_embed(boxes) + (1 - m_box) * self.null_position_feature.to(dtype).view(1, 1, -1)
        m_pt = zero if drops["points"] else m
        pt_emb = m_pt * fourier_embed(points) + (1 - m_pt) * self.null_point_feature.to(dtype).view(1, 1, -1)
        m_scr = zero if drops["scribbles"] else ((scribbles.sum(-1, keepdim=True) + m) > 0).to(dtype)
        scr_emb = m_scr * fourier_embed(scribbles) + (1 - m_scr) * self.null_scribble_feature.to(dtype).view(1, 1, -1)
        m_poly = zero if drops["masks"] else ((polygons.sum(-1, keepdim=True) + m) > 0).to(dtype)
        poly_emb = m_poly * fourier_embed(polygons) + (1 - m_poly) * self.null_polygon_feature.to(dtype).view(1, 1, -1)

        box_tok = self._mlp(0, torch.cat([text, box_emb], -1))
        pt_tok = self._mlp(1, torch.cat([text, pt_emb], -1))
        scr_tok = self._mlp(2, torch.cat([text, scr_emb], -1))
        poly_tok = self._mlp(3, torch.cat([text, poly_emb], -1))
        seg_tok = self._mlp(4, self._seg_tokens(segs, drops["masks"], b, dtype) + self.pos_embedding.to(dtype))

        objs = torch.cat([box_tok, pt_tok, scr_tok, poly_tok, seg_tok], dim=1)
        drop_box_mask = bool(drops["boxes"] and drops["masks"])
        return objs, drop_box_mask

    def _mlp(self, i: int, x: torch.Tensor) -> torch.Tensor:
        mlp = self.linears_list[i]
        return mlp(x.to(mlp[0].weight.dtype))

    def _seg_tokens(self, segs: torch.Tensor, dropped: bool, b: int, dtype: torch.dtype) -> torch.Tensor:
        """m_seg*features + (1-m_seg)*null per batch element, in ``dtype``. Elements with m_seg = 0 skip the ConvNeXt:
        their result is exactly the null token either way, and the unconditional / instance chains are mostly empty."""
        null = self.null_seg_feature.to(dtype).view(1, 1, -1).expand(b, NUM_SEG_TOKENS, -1)
        if dropped:
            return null
        active = any_pixel(segs)
        if bool(active.all()):  # the usual case: no row to leave out, so no copy of the (b, 30, 512, 512) input
            return self.seg_tokens_pre_mlp(self.seg_features(segs)).to(dtype)
        if not bool(active.any()):
            return null
        out = null.clone()
        idx = active.nonzero().squeeze(1)
        out[idx] = self.seg_tokens_pre_mlp(self.seg_features(segs[idx])).to(dtype)
        return out


def any_pixel(segs: torch.Tensor) -> torch.Tensor:
    """(B,) bool: whether any pixel of any slot of each row of ``segs`` (B, 30, H, W) is non-zero.

    Equal to ``(segs != 0).flatten(1).any(1)``. On the CPU it stops at a row's first slot with a pixel: a grounded
    row has its instances in the first slots, so it reads one slot of 1 MB instead of all 30 (only an empty row is
    read whole). On a GPU one reduction, not a host sync per slot.
    """
    if segs.device.type != "cpu":
        return segs.flatten(1).any(dim=1)
    return torch.tensor([any(bool(slot.any()) for slot in row) for row in segs], dtype=torch.bool)


def null_grounding(batch: int, in_dim: int, device=None, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """The original's ``GroundingNetInput.get_null_input``: every grounding tensor all zero (unconditional pass)."""
    z = lambda *s: torch.zeros(batch, *s, device=device, dtype=dtype)  # noqa: E731
    return {
        "boxes": z(MAX_OBJS, 4),
        "masks": z(MAX_OBJS),
        "positive_embeddings": z(MAX_OBJS, in_dim),
        "scribbles": z(MAX_OBJS, 2 * N_SCRIBBLE_POINTS),
        "polygons": z(MAX_OBJS, 2 * N_POLYGON_POINTS),
        "segs": z(MAX_OBJS, SEG_RESOLUTION, SEG_RESOLUTION),
        "points": z(MAX_OBJS, 2),
    }


def stack_grounding(items: list[dict[str, torch.Tensor] | None], in_dim: int, device=None, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Concatenate per-sample grounding dicts (each batch 1 or more) along the batch axis; None = null input.
    The optional ``att_masks`` (B,30,64,64) is kept when any item has it (zeros for the others)."""
    parts = []
    for g in items:
        if g is None:
            parts.append(null_grounding(1, in_dim, device, dtype))
        else:
            missing = [k for k in GROUNDING_KEYS if k not in g]
            if missing:
                raise KeyError(f"grounding dict lacks {missing}; expected keys {GROUNDING_KEYS}")
            parts.append({k: g[k].to(device=device, dtype=dtype) for k in GROUNDING_KEYS + ("att_masks",) if k in g})
    out = {k: torch.cat([p[k] for p in parts], dim=0) for k in GROUNDING_KEYS}
    shapes = [p["att_masks"].shape[1:] for p in parts if "att_masks" in p]
    if shapes:
        out["att_masks"] = torch.cat([p["att_masks"] if "att_masks" in p else
                                      torch.zeros(p["masks"].shape[0], *shapes[0], device=device, dtype=dtype)
                                      for p in parts], dim=0)
    return out

