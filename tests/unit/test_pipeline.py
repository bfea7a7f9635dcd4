"""InstanceDiffusionPipeline on the tiny test stack: layout edge cases, noise, decode, demo inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from instdiff.core.errors import InputError
from instdiff.core.layout import Instance, Layout
from instdiff.generation.pipeline import GenerationSettings, prepare_layout

from tests.conftest import parity_fixtures

# The original demo layouts sit beside the parity fixtures (../shared/fixtures/demos).
DEMOS = parity_fixtures().parent / "demos"


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from tests.unit.tiny_stack import tiny_pipeline

    return tiny_pipeline(tmp_path_factory.mktemp("tiny"))


def _many(n: int) -> Layout:
    insts = [Instance(f"thing {i}", (0.02 * i, 0.1, 0.02 * i + 0.1, 0.5)) for i in range(n)]
    return Layout(id="many", caption="many things", instances=insts)


def test_more_than_30_instances_keep_the_first_30(pipe):
    lay, notes = prepare_layout(_many(33))
    assert len(lay.instances) == 30 and [i.phrase for i in lay.instances] == [f"thing {i}" for i in range(30)]
    assert notes == ["truncated 33 instances to the first 30"]
    glob, inst = pipe.conditions(lay, GenerationSettings(location="box", mis=0.36))
    assert float(glob.grounding["masks"].sum()) == 30 and len(inst) == 30
    assert glob.grounding["positive_embeddings"].shape == (1, 30, 32)  # the text tower's width
    out = pipe(_many(33), GenerationSettings(location="box", steps=2, mis=0.0), seed=0)
    assert out.notes == notes and out.images[0].size == (512, 512)


def test_zero_instances_run_one_chain(pipe):
    lay = Layout(id="empty", caption="an empty room", instances=[])
    out = pipe(lay, GenerationSettings(steps=2, mis=0.5), seed=0, trace=True)
    # As the original: the MIS sampler still runs, with the global chain alone (the "merge" of one chain).
    assert out.trace.chain_latents_at_merge.shape[0] == 1
    assert set(out.trace.x_in) == {"global_/step00a", "global_/step00b", "global_/step01a"}
    assert any("no instances" in n for n in out.notes)


def test_out_of_canvas_is_clipped_and_bad_boxes_rejected():
    lay = Layout(id="x", caption="c", instances=[
        Instance("a", (-0.5, 0.2, 0.5, 1.5), point=(1.2, 0.5), scribble=[(0.5, -0.1), (0.2, 0.3)])])
    fixed, notes = prepare_layout(lay)
    inst = fixed.instances[0]
    assert inst.box == (0.0, 0.2, 0.5, 1.0) and inst.point == (1.0, 0.5) and inst.scribble == [(0.5, 0.0), (0.2, 0.3)]
    assert len(notes) == 3
    with pytest.raises(InputError, match="instances\\[0\\].box"):
        prepare_layout(Layout(id="y", caption="c", instances=[Instance("a", (0.5, 0.2, 0.1, 0.6))]))
    with pytest.raises(InputError):
        prepare_layout(Layout(id="y", caption="c", instances=[Instance("a", (float("nan"), 0.2, 0.1, 0.6))]))


def test_initial_noise_is_the_originals_for_a_seed(pipe):
    """inference.py: torch.manual_seed(seed); torch.randn(1, 4, 64, 64) on the CPU."""
    torch.manual_seed(11)
    expected = torch.randn(1, 4, 64, 64)
    got = pipe.prepare_latents(torch.Generator("cpu").manual_seed(11))
    assert torch.equal(got.cpu(), expected)


def test_decode_truncates_like_the_original(pipe):
    class FixedDecoder(torch.nn.Module):
        def __init__(self, img):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))
            self.img = img

        def decode(self, z):
            return type("Out", (), {"sample": self.img})()

    img = torch.tensor([-2.0, -1.0, 0.0, 0.999, 1.0, 3.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    saved = pipe.vae
    try:
        pipe.vae = FixedDecoder(img)
        (pil,) = pipe.decode_latents(torch.zeros(1, 4, 1, 1))
    finally:
        pipe.vae = saved
    # (x+1)/2*255 truncated: -1 -> 0, 0 -> 127 (127.5), 0.999 -> 254 (254.87), 1 -> 255
    assert np.asarray(pil)[0, :, 0].tolist() == [0, 0, 127, 254, 255, 255]


def test_demo_masks_and_scribbles_are_used(pipe, tmp_path):
    from instdiff.data.demo import complete_from_masks, read_demo

    corgi = complete_from_masks(read_demo(DEMOS / "demo_corgi_kitchen.json"), seed=0)
    with_mask = [i for i, inst in enumerate(corgi.instances) if inst.mask is not None]
    assert with_mask, "the corgi demo carries RLE masks"
    glob, _ = pipe.conditions(prepare_layout(corgi)[0], GenerationSettings(location="mask", mis=0.0))
    segs, polys, scr = glob.grounding["segs"][0], glob.grounding["polygons"][0], glob.grounding["scribbles"][0]
    for i in with_mask:
        assert segs[i].sum() > 0 and polys[i].abs().sum() > 0 and scr[i].abs().sum() > 0, i
    without = [i for i in range(len(corgi.instances)) if i not in with_mask]
    assert all(segs[i].sum() == 0 for i in without)

    demo = {"caption": "a path", "width": 768, "height": 512, "annos": [
        {"bbox": [0, 0, 100, 100], "mask": [], "caption": "a box only"},
        {"bbox": [10, 20, 300, 200], "mask": [], "caption": "a path", "scribble": [[10, 20], [310, 220], [160, 120]]},
    ]}
    path = tmp_path / "demo_path.json"
    path.write_text(json.dumps(demo))
    lay = complete_from_masks(read_demo(path), seed=0)
    glob, _ = pipe.conditions(lay, GenerationSettings(location="scribble", mis=0.0))
    got = glob.grounding["scribbles"][0, 1].view(20, 2).tolist()
    # Sorted by distance to the origin, then 20 indices int(linspace(0, 2, 20)): 10 x p0, 9 x p2, 1 x p1.
    p0, p1, p2 = (10 / 768, 20 / 512), (310 / 768, 220 / 512), (160 / 768, 120 / 512)
    np.testing.assert_allclose(got, [p0] * 10 + [p2] * 9 + [p1], rtol=1e-6)
    assert glob.grounding["scribbles"][0, 0].abs().sum() == 0  # the instance's own slot, not re-sorted across


def test_every_demo_parses():
    from instdiff.data.demo import read_demo

    demos = sorted(DEMOS.glob("*.json"))
    assert len(demos) >= 10
    for path in demos:
        lay = read_demo(path)
        raw = json.loads(path.read_text())
        assert len(lay.instances) == len(raw["annos"]) and lay.caption == raw["caption"]
        for inst, a in zip(lay.instances, raw["annos"]):
            if "bbox" in a:
                x, y, w, h = a["bbox"]
                assert inst.box == pytest.approx((x / raw["width"], y / raw["height"],
                                                  (x + w) / raw["width"], (y + h) / raw["height"]))
            if "point" in a:
                assert inst.point == pytest.approx((a["point"][0] / raw["width"], a["point"][1] / raw["height"]))


def test_batched_with_cached_tokens_equals_sequential_on_tiny_instancediffusion(tmp_path):
    """The fast path (CFG and MIS chains in one UNet call, instance tokens computed once per chain) gives the
    same latents as the original's one-call-at-a-time order on the converted tiny InstanceDiffusion model."""
    import numpy as np
    import torch

    from instdiff.core.layout import Instance
    from instdiff.model.config import ModelConfig
    from instdiff.model.convert import convert_checkpoint
    from instdiff.model.tiny import write_tiny_checkpoint
    from instdiff.generation.pipeline import GenerationSettings, InstanceDiffusionPipeline

    write_tiny_checkpoint(tmp_path / "ckpt.pth", tmp_path / "tokenizer")
    model = convert_checkpoint(tmp_path / "ckpt.pth", tmp_path / "tokenizer", tmp_path / "model", config=ModelConfig.tiny())
    pipe = InstanceDiffusionPipeline.from_folder(model, "fp32", "cpu")
    mask = np.zeros((512, 512), np.uint8)
    mask[100:300, 50:250] = 1
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode()
    layout = Layout(id="7", caption="a dog and a cat", instances=[
        Instance(phrase="dog", box=(0.1, 0.2, 0.5, 0.6), point=(0.3, 0.4), mask=rle,
                 scribble=[(0.2 + 0.01 * i, 0.3) for i in range(20)], polygon=[(0.1, 0.2)] * 256),
        Instance(phrase="cat", box=(0.55, 0.1, 0.9, 0.5), point=(0.7, 0.3)),
    ])
    out = {}
    for batched in (False, True):
        settings = GenerationSettings(location="scribble", mis=0.5, alpha=1.0, guidance_scale=7.5, steps=4,
                                      batched=batched)
        out[batched] = pipe(layout, settings, seed=11, output_type="latent").latents
    torch.testing.assert_close(out[True], out[False], atol=1e-4, rtol=1e-4)
