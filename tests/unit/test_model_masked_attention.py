"""Instance-masked fuser attention (use_masked_att): the mask's allowed pairs and its use in the UNet."""

from __future__ import annotations

import dataclasses

import torch

from instdiff.model.config import ModelConfig, UNetConfig
from instdiff.core.original_constants import MAX_OBJS
from instdiff.model.masked_attention import att_masks_from_boxes, instance_attention_mask
from instdiff.model.position_net import null_grounding, stack_grounding
from instdiff.model.unet import InstanceDiffusionUNet


def test_mask_allowed_pairs_on_a_2x2_map():
    att = torch.zeros(1, MAX_OBJS, 2, 2)
    att[0, 0, 0, :] = 1  # instance 0 covers flat tokens 0 and 1
    m = instance_attention_mask(att)[0, 0]
    hw, n = 4, MAX_OBJS
    assert m.shape == (hw + 4 * n + 64,) * 2
    assert m[0, 1] and m[1, 0] and not m[0, 2] and not m[2, 3] and m[2, 2]  # background only sees itself
    box0, pt0, scr0, poly0 = hw, hw + n, hw + 2 * n, hw + 3 * n
    assert m[box0, :hw].tolist() == [True, True, False, False] and m[:hw, box0].tolist() == [True, True, False, False]
    assert m[poly0, :hw].tolist() == [True, True, False, False]
    assert m[pt0, :hw].all() and m[scr0, :hw].all() and m[:hw, pt0].all()
    assert not m[box0 + 1, :hw].any()  # padding slot: no visual token
    assert m[hw:, hw:].all() and m[-64:, :].all() and m[:, -64:].all()


def test_rows_without_instances_are_not_masked():
    att = torch.zeros(2, MAX_OBJS, 2, 2)
    att[0, 0, 0, 0] = 1
    m = instance_attention_mask(att)
    assert not m[0].all() and m[1].all()


def test_att_masks_from_boxes_first_axis_is_x():
    boxes = torch.zeros(1, MAX_OBJS, 4)
    boxes[0, 0] = torch.tensor([0.0, 0.5, 0.25, 1.0])  # left quarter, bottom half
    a = att_masks_from_boxes(boxes, size=8)
    assert a[0, 0, 0:2, 4:8].all() and a[0, 0].sum() == 8 and a[0, 1:].sum() == 0


def _full_res_attention_unet(use_masked_att: bool) -> InstanceDiffusionUNet:
    cfg = dataclasses.replace(ModelConfig.tiny(), unet=UNetConfig(
        block_out_channels=(32, 32, 32, 32), attention_levels=(True, False, False, False), layers_per_block=1,
        num_heads=2, cross_attention_dim=32))
    torch.manual_seed(0)
    net = InstanceDiffusionUNet(cfg, use_masked_att=use_masked_att).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                p.fill_(1.0)
    return net


def test_masked_attention_in_the_unet_is_per_row():
    net = _full_res_attention_unet(use_masked_att=True)
    g = null_grounding(1, 32)
    g["masks"][0, 0] = 1
    g["boxes"][0, 0] = torch.tensor([0.1, 0.1, 0.5, 0.6])
    g["positive_embeddings"][0, 0] = torch.randn(32)
    g["att_masks"] = att_masks_from_boxes(g["boxes"])
    gen = torch.Generator().manual_seed(3)
    x, ctx = torch.randn(2, 4, 64, 64, generator=gen), torch.randn(2, 77, 32, generator=gen)
    with torch.no_grad():
        both = net(x, 981, ctx, stack_grounding([g, None], 32), 1.0)
        first = net(x[:1], 981, ctx[:1], g, 1.0)
        second = net(x[1:], 981, ctx[1:], None, 1.0)
        unmasked = net(x[:1], 981, ctx[:1], g, 1.0, location="point")  # boxes and masks dropped: no masking
        net.use_masked_att = False
        plain = net(x[:1], 981, ctx[:1], g, 1.0)
        plain_point = net(x[:1], 981, ctx[:1], g, 1.0, location="point")
    torch.testing.assert_close(both, torch.cat([first, second]), atol=2e-5, rtol=1e-4)
    assert (first - plain).abs().max() > 1e-4  # the mask matters
    torch.testing.assert_close(unmasked, plain_point, atol=0, rtol=0)


def test_masked_sdpa_equals_explicit_softmax_with_minus_inf():
    """The fuser's masked path equals the original's explicit softmax(QK^T d^-1/2, masked -inf) V."""
    net = _full_res_attention_unet(use_masked_att=True)
    fuser = net.fusers[0]
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(1, 4 + 184, 32, generator=gen)
    att = torch.zeros(1, MAX_OBJS, 2, 2)
    att[0, 0, 0, :] = 1
    mask = instance_attention_mask(att)
    with torch.no_grad():
        ours = fuser._masked_attention(tokens, mask)
        a = fuser.attn
        q, k, v = (p(tokens).view(1, -1, a.heads, 16).transpose(1, 2) for p in (a.to_q, a.to_k, a.to_v))
        sim = (q @ k.transpose(-1, -2)) * 16 ** -0.5
        sim = sim.masked_fill(~mask, float("-inf"))
        out = (sim.softmax(-1) @ v).transpose(1, 2).reshape(1, -1, 32)
        ref = a.to_out[0](out)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
