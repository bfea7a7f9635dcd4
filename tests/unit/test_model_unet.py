"""InstanceDiffusionUNet at the tiny size: null grounding, batching, gate scale, ScaleU filter, drop rules."""

from __future__ import annotations

import math

import pytest
import torch

from instdiff.model.config import ModelConfig
from instdiff.core.original_constants import MAX_OBJS
from instdiff.model.position_net import effective_drops, fourier_embed, null_grounding, stack_grounding
from instdiff.model.scaleu import fourier_filter
from instdiff.model.unet import InstanceDiffusionUNet

TINY = ModelConfig.tiny()
D = TINY.position_net.in_dim


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    net = InstanceDiffusionUNet(TINY).eval()
    with torch.no_grad():  # open the gates and make every InstanceDiffusion part non-trivial
        for name, p in net.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                p.fill_(0.5)
            elif name.startswith("scaleu_") or name.startswith("position_net.null_") or name.endswith("pos_embedding"):
                p.normal_(std=0.3)
    return net


def _grounding(n_valid: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = null_grounding(1, D)
    out["masks"][0, :n_valid] = 1
    out["boxes"][0, :n_valid] = torch.tensor([0.1, 0.2, 0.6, 0.7])
    out["points"][0, :n_valid] = torch.tensor([0.3, 0.4])
    out["positive_embeddings"][0, :n_valid] = torch.randn(n_valid, D, generator=g)
    out["scribbles"][0, :n_valid] = torch.rand(n_valid, 40, generator=g)
    out["polygons"][0, :n_valid] = torch.rand(n_valid, 512, generator=g)
    out["segs"][0, 0, 100:300, 50:200] = 1
    return out


def _call(unet, grounding, scale=1.0, batch=1, seed=0, location=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 4, 64, 64, generator=g)
    ctx = torch.randn(batch, 77, D, generator=g)
    with torch.no_grad():
        return unet(x, 981, ctx, grounding, scale, location=location)


def test_null_grounding_equals_none(unet):
    assert torch.equal(_call(unet, None, batch=2), _call(unet, null_grounding(2, D), batch=2))


def test_grounding_changes_the_output_and_null_rows_are_not_skipped(unet):
    cond = _call(unet, _grounding())
    null = _call(unet, None)
    assert (cond - null).abs().max() > 1e-3
    # the null input still goes through the fusers: closing the gates changes the unconditional output too
    assert (null - _call(unet, None, scale=0.0)).abs().max() > 1e-4


def test_batch_rows_match_single_calls(unet):
    """Per-sample grounding in one batch: [cond, uncond] equals the two calls made one by one."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 64, 64, generator=g)
    ctx = torch.randn(2, 77, D, generator=g)
    grounding = stack_grounding([_grounding(), None], D)
    with torch.no_grad():
        both = unet(x, torch.tensor([981, 981]), ctx, grounding, 1.0)
        first = unet(x[:1], 981, ctx[:1], _grounding(), 1.0)
        second = unet(x[1:], 981, ctx[1:], None, 1.0)
    torch.testing.assert_close(both, torch.cat([first, second]), atol=2e-5, rtol=1e-4)


def test_gate_scale_is_a_multiplier_on_tanh_alpha(unet):
    """scale s with gates alpha equals scale 1 with gates atanh(s * tanh(alpha)); s = 0 equals closed gates."""
    grounding = _grounding()
    s = 0.3
    scaled = _call(unet, grounding, scale=s)
    saved = {n: p.clone() for n, p in unet.named_parameters() if n.endswith(("alpha_attn", "alpha_dense"))}
    try:
        with torch.no_grad():
            for n, p in unet.named_parameters():
                if n in saved:
                    p.copy_(torch.atanh(s * torch.tanh(saved[n])))
            equivalent = _call(unet, grounding, scale=1.0)
            for n, p in unet.named_parameters():
                if n in saved:
                    p.zero_()
            closed = _call(unet, grounding, scale=1.0)
    finally:
        with torch.no_grad():
            for n, p in unet.named_parameters():
                if n in saved:
                    p.copy_(saved[n])
    torch.testing.assert_close(scaled, equivalent, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(_call(unet, grounding, scale=0.0), closed, atol=0, rtol=0)


def test_sixteen_fusers_and_twelve_scaleu_at_sd15_size():
    with torch.device("meta"):
        net = InstanceDiffusionUNet(ModelConfig.sd15())
    assert len(net.fusers) == 16
    assert [getattr(net, f"scaleu_b_{i}").numel() for i in range(12)] == [1280] * 7 + [640] * 3 + [320] * 2


def test_fourier_filter_scales_dc_and_only_the_minus_one_frequency():
    """Constant map: only DC, scaled by s. cos(2 pi w / W): components at +-1, only -1 scaled -> (1+s)/2 cos."""
    s = torch.tensor([0.5])
    const = torch.full((1, 1, 8, 8), 2.0)
    torch.testing.assert_close(fourier_filter(const, s), s * const)
    w = torch.arange(8, dtype=torch.float32)
    wave = torch.cos(2 * math.pi * w / 8).expand(1, 1, 8, 8)
    torch.testing.assert_close(fourier_filter(wave, s), (1 + 0.5) / 2 * wave, atol=1e-6, rtol=0)
    wave3 = torch.cos(2 * math.pi * 3 * w / 8).expand(1, 1, 8, 8)  # outside the window: unchanged
    torch.testing.assert_close(fourier_filter(wave3, s), wave3, atol=1e-6, rtol=0)


def test_fourier_embed_layout():
    x = torch.tensor([[0.25, 0.5]])
    e = fourier_embed(x, num_freqs=2, temperature=100.0)
    f1 = 100.0 ** 0.5
    expected = [math.sin(0.25), math.sin(0.5), math.cos(0.25), math.cos(0.5),
                math.sin(f1 * 0.25), math.sin(f1 * 0.5), math.cos(f1 * 0.25), math.cos(f1 * 0.5)]
    torch.testing.assert_close(e[0], torch.tensor(expected), atol=1e-6, rtol=0)


def test_drop_flags_of_the_test_configs():
    assert effective_drops("point") == {"boxes": True, "points": False, "scribbles": True, "masks": True}
    assert not any(effective_drops("scribble").values())
    with pytest.raises(ValueError, match="location"):
        effective_drops("hybrid")


def test_seg_tokens_switch_per_batch_element(unet):
    """A row without any mask pixel gets the null seg tokens, whatever its neighbour in the batch has."""
    pn = unet.position_net
    with_mask, without = _grounding(), _grounding()
    without["segs"].zero_()
    batch = stack_grounding([with_mask, without], D)
    with torch.no_grad():
        objs, _ = pn(**batch, location="mask")
        alone, _ = pn(**without, location="mask")
        first, _ = pn(**with_mask, location="mask")
    torch.testing.assert_close(objs[1:], alone, atol=1e-6, rtol=0)
    assert (objs[0, -64:] - objs[1, -64:]).abs().max() > 1e-3
    torch.testing.assert_close(objs[:1], first, atol=1e-6, rtol=0)
    assert objs.shape == (2, 4 * MAX_OBJS + 64, TINY.position_net.out_dim)


def test_precomputed_tokens_equal_raw_grounding(unet):
    """encode_grounding once, reuse every step: same eps as passing the raw grounding dict."""
    raw = stack_grounding([_grounding(), None], D)
    encoded = unet.encode_grounding(raw, location="scribble")
    torch.testing.assert_close(_call(unet, encoded, batch=2), _call(unet, raw, batch=2, location="scribble"),
                               atol=0, rtol=0)


def test_any_pixel_is_the_original_any_pixel_rule():
    """Row validity of the seg branch: any non-zero pixel in any slot, wherever it is (the last slot's last pixel,
    a negative value, NaN), and -0.0 is zero, as ``(segs != 0).flatten(1).any(1)``."""
    from instdiff.model.position_net import any_pixel

    segs = torch.zeros(6, MAX_OBJS, 8, 8)
    segs[0, 0, 3, 3] = 1.0
    segs[1, MAX_OBJS - 1, 7, 7] = 0.5
    segs[2, 4, 0, 0] = -2.0
    segs[3, 2] = -0.0
    segs[4, 9, 1, 1] = float("nan")
    expected = (segs != 0).flatten(1).any(dim=1)
    assert any_pixel(segs).tolist() == expected.tolist() == [True, True, True, False, True, False]


def test_seg_tokens_of_a_fully_grounded_batch_equal_row_by_row(unet):
    """Every row with mask pixels (no row left out, the path without the input copy): each row's tokens are exactly
    the tokens of that row alone, and a row with its only mask in the last slot is not taken for an empty one."""
    pn = unet.position_net
    rows = [_grounding(seed=s) for s in (1, 2)]
    rows[1]["segs"].zero_()
    rows[1]["segs"][0, MAX_OBJS - 1, 500:, 500:] = 1.0
    batch = stack_grounding(rows, D)
    with torch.no_grad():
        objs, _ = pn(**batch, location="mask")
        alone = [pn(**r, location="mask")[0] for r in rows]
        empty = dict(rows[1], segs=torch.zeros_like(rows[1]["segs"]))
        null_row, _ = pn(**empty, location="mask")
    for k in range(2):
        torch.testing.assert_close(objs[k : k + 1, -64:], alone[k][:, -64:], atol=1e-6, rtol=0)
    assert (objs[1, -64:] - null_row[0, -64:]).abs().max() > 1e-3


def test_tiny_unet_stays_cheap_for_the_smoke():
    """The smoke generates on CPU cores, hundreds of UNet rows per image (every MIS chain, twice for CFG): the
    tiny UNet's budget is 0.1 GFLOP per 64x64 row (the (16, 32, 64, 64) UNet with 2 resnets per level took 1.5)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = InstanceDiffusionUNet(TINY).eval()
    grounding = net.encode_grounding(null_grounding(1, D), 1)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 4, 64, 64), 981, torch.randn(1, 77, TINY.unet.cross_attention_dim), grounding, 1.0)
    assert 0 < counter.get_total_flops() <= 0.1e9
