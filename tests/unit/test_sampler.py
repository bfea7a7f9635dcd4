"""Sampler properties on hand-checkable cases; batched and sequential execution agree."""

from __future__ import annotations

import pytest
import torch

from instdiff.generation.sampler import (
    ChainCondition,
    SamplerSettings,
    SamplerTrace,
    alpha_schedule,
    guided_evaluations,
    mis_step_count,
    plms_timesteps,
    sample,
)


def test_timesteps_and_schedules():
    ts = plms_timesteps(50)
    assert len(ts) == 50 and ts[0] == 981 and ts[-1] == 1 and all(a - b == 20 for a, b in zip(ts, ts[1:]))
    assert plms_timesteps(4) == [751, 501, 251, 1]
    with pytest.raises(ValueError):
        plms_timesteps(3)  # the original would run 4 steps with a 3-long alpha schedule
    assert sum(alpha_schedule(50, 0.75)) == 37 and alpha_schedule(50, 0.8)[39:41] == [1.0, 0.0]
    assert mis_step_count(50, 0.36) == 18 and mis_step_count(50, 0.2) == 10 and mis_step_count(50, 0.0) == 0
    assert guided_evaluations(50, 2, 0.36) == 3 * 19 + 32 and guided_evaluations(50, 5, 0.0) == 51


class ToyDenoiser:
    """A cheap denoiser that depends on every input the sampler passes (per batch row), and counts rows."""

    def __init__(self):
        self.rows = 0
        self.calls = 0

    def __call__(self, x, t, ctx, grounding, gate_scale):
        B = x.shape[0]
        self.rows += B
        self.calls += 1
        tau = (t.float() / 1000).view(B, 1, 1, 1)
        m = ctx.reshape(B, -1).mean(1).view(B, 1, 1, 1)
        if grounding is None:
            q = torch.zeros(B, 1, 1, 1)
        else:
            q = (grounding["boxes"].sum(-1) * grounding["masks"]).sum(1).view(B, 1, 1, 1)
            q = q + grounding["positive_embeddings"].mean((1, 2)).view(B, 1, 1, 1)
        return (0.6 + 0.3 * tau) * x + 0.1 * torch.sin(3 * x) + 0.05 * m + gate_scale * 0.03 * q


def _conds(n_inst: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)

    def grounding(boxes):
        d = {"boxes": torch.zeros(1, 30, 4), "masks": torch.zeros(1, 30),
             "positive_embeddings": torch.zeros(1, 30, 8)}
        for j, b in enumerate(boxes):
            d["boxes"][0, j] = b
            d["masks"][0, j] = 1
            d["positive_embeddings"][0, j] = torch.randn(8, generator=g)
        return d

    boxes = [torch.rand(4, generator=g) for _ in range(n_inst)]
    glob = ChainCondition(torch.randn(1, 77, 16, generator=g), grounding(boxes))
    inst = [ChainCondition(torch.randn(1, 77, 16, generator=g), grounding([b])) for b in boxes]
    return glob, inst, torch.randn(1, 77, 16, generator=g), torch.randn(1, 4, 16, 16, generator=g)


@pytest.mark.parametrize(
    "n_inst,steps,g,alpha,mis,max_batch",
    [(2, 10, 7.5, 0.8, 0.36, None), (3, 10, 1.0, 0.3, 0.5, None), (0, 10, 7.5, 1.0, 0.36, None),
     (2, 10, 7.5, 1.0, 1.0, None), (4, 20, 5.0, 0.75, 0.2, 3), (2, 4, 7.5, 1.0, 0.0, None)],
)
def test_batched_equals_sequential(n_inst, steps, g, alpha, mis, max_batch):
    glob, inst, unc, x_T = _conds(n_inst)
    outs, traces, dens = [], [], []
    for batched in (False, True):
        den, trace = ToyDenoiser(), SamplerTrace()
        s = SamplerSettings(steps=steps, guidance_scale=g, alpha=alpha, mis=mis, batched=batched, max_batch=max_batch)
        outs.append(sample(den, x_T, glob, inst, unc, s, trace=trace))
        traces.append(trace)
        dens.append(den)
    torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=1e-5)
    assert traces[0].x_in.keys() == traces[1].x_in.keys()
    for k in traces[0].x_in:
        torch.testing.assert_close(traces[1].x_in[k], traces[0].x_in[k], atol=1e-5, rtol=1e-5)
    # Same number of denoised rows; batched needs one call per guided evaluation (times chunks).
    assert dens[0].rows == dens[1].rows
    n_eval = guided_evaluations(steps, n_inst, mis) if n_inst else steps + 1
    assert dens[0].rows == n_eval * (2 if g != 1.0 else 1)
    if max_batch is None:
        m = min(mis_step_count(steps, mis), steps) if n_inst else 0
        assert dens[1].calls == (m + 1 if m else 0) + steps - m + (1 if m == 0 else 0)


def test_mis_merge_is_mean_of_chains_and_zero_mis_ignores_instances():
    glob, inst, unc, x_T = _conds(2)
    trace = SamplerTrace()
    sample(ToyDenoiser(), x_T, glob, inst, unc, SamplerSettings(steps=10, mis=0.3), trace=trace)
    merged = trace.x_in["global_/step03a"]
    torch.testing.assert_close(merged, trace.chain_latents_at_merge.mean(0), atol=1e-6, rtol=0)
    a = sample(ToyDenoiser(), x_T, glob, inst, unc, SamplerSettings(steps=10, mis=0.0))
    b = sample(ToyDenoiser(), x_T, glob, [], unc, SamplerSettings(steps=10, mis=0.0))
    assert torch.equal(a, b)


def test_batched_equals_sequential_on_a_real_unet(tmp_path):
    """With a real (tiny) conv UNet the batch changes kernels, so equality is up to float32 noise."""
    from tests.unit.tiny_stack import tiny_pipeline

    torch.manual_seed(0)
    pipe = tiny_pipeline(tmp_path)
    g = torch.Generator().manual_seed(3)
    ctx = lambda: torch.randn(1, 77, 32, generator=g)  # noqa: E731

    def grounding(k):
        d = {"boxes": torch.rand(1, 30, 4, generator=g), "masks": torch.zeros(1, 30),
             "positive_embeddings": torch.randn(1, 30, 32, generator=g), "points": torch.rand(1, 30, 2, generator=g),
             "segs": torch.zeros(1, 30, 8, 8)}
        d["masks"][0, :k] = 1
        return d

    glob = ChainCondition(ctx(), grounding(2))
    inst = [ChainCondition(ctx(), grounding(1)) for _ in range(2)]
    x_T = torch.randn(1, 4, 64, 64, generator=g)
    unc = ctx()
    outs = [
        sample(pipe.denoiser(), x_T, glob, inst, unc, SamplerSettings(steps=4, mis=0.5, batched=b))
        for b in (False, True)
    ]
    torch.testing.assert_close(outs[1], outs[0], atol=1e-4, rtol=1e-4)
