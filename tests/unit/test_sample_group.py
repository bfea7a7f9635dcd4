"""Several images per denoiser call (sample_group) give each image what sampling it alone gives."""

from __future__ import annotations

import pytest
import torch

from instdiff.generation.sampler import ChainCondition, PLMSSchedule, SamplerSettings, sample, sample_group
from tests.unit.test_sampler import ToyDenoiser, _conds


def _images(counts):
    items = [_conds(n) for n in counts]
    return [i[3] for i in items], [i[0] for i in items], [i[1] for i in items], items[0][2]


@pytest.mark.parametrize("mis,alpha,g,max_batch", [(0.36, 1.0, 7.5, None), (0.5, 0.3, 5.0, 3), (0.0, 0.8, 7.5, None),
                                                   (1.0, 1.0, 1.0, None)])
def test_group_equals_one_at_a_time_with_a_row_independent_denoiser(mis, alpha, g, max_batch):
    """The toy denoiser treats rows independently, so stacking images must not change a single number."""
    x_Ts, globs, insts, unc = _images([2, 0, 3])
    s = SamplerSettings(steps=10, guidance_scale=g, alpha=alpha, mis=mis, max_batch=max_batch)
    alone = [sample(ToyDenoiser(), x, gl, ic, unc, s) for x, gl, ic in zip(x_Ts, globs, insts)]
    den = ToyDenoiser()
    together = sample_group(den, x_Ts, globs, insts, unc, s)
    for a, b in zip(alone, together):
        assert torch.equal(a, b)
    if max_batch is None:  # one call per guided evaluation for the whole group
        m = int(10 * mis)
        assert den.calls == (m + 1 + 10 - m if m else 11)


def _error_gain(steps: int, g: float) -> float:
    """Bound on how much a per-evaluation ε difference δ moves the final latent, per unit δ.

    Guidance turns δ into at most (1 + 2g)·δ, the multistep combination into (55+59+37+9)/24 times that; each
    DDIM step adds its ε coefficient times it and carries the x difference on with sqrt(ā_prev / ā_t).
    """
    sch = PLMSSchedule.make(steps)
    gain = 0.0
    for i in range(steps):
        carry, a_prev, a_t = (sch.a_prev[i] / sch.a_t[i]).sqrt().item(), sch.a_prev[i].item(), sch.a_t[i].item()
        coeff = abs((a_prev**0.5) * sch.sqrt_one_minus_a_t[i].item() / a_t**0.5 - (1 - a_prev) ** 0.5)
        gain = gain * carry + coeff * (1 + 2 * g) * 160 / 24
    return gain


@pytest.mark.parametrize(("counts", "batching"), [
    ([2, 1], {}),
    # refill: the third image (1 instance) starts as the first two free rows at their MIS merge
    ([2, 0, 1], {"max_batch": 8, "refill": True}),
])
def test_group_equals_one_at_a_time_on_a_real_unet_within_its_batch_effect(tmp_path, counts, batching):
    """With a conv UNet, batch size may change kernels: the tolerance is the measured batch effect on ε at x_T,
    carried through the sampler's arithmetic (:func:`_error_gain`), doubled for its passage back through the UNet."""
    from tests.unit.tiny_stack import tiny_pipeline

    torch.manual_seed(0)
    pipe = tiny_pipeline(tmp_path)
    g = torch.Generator().manual_seed(5)

    def grounding(k):
        d = {"boxes": torch.rand(1, 30, 4, generator=g), "masks": torch.zeros(1, 30),
             "positive_embeddings": torch.randn(1, 30, 32, generator=g), "points": torch.rand(1, 30, 2, generator=g),
             "segs": torch.zeros(1, 30, 8, 8)}
        d["masks"][0, :k] = 1
        return d

    globs = [ChainCondition(torch.randn(1, 77, 32, generator=g), grounding(n)) for n in counts]
    insts = [[ChainCondition(torch.randn(1, 77, 32, generator=g), grounding(1)) for _ in range(n)] for n in counts]
    x_Ts = [torch.randn(1, 4, 64, 64, generator=g) for _ in counts]
    unc = torch.randn(1, 77, 32, generator=g)
    s = SamplerSettings(steps=4, guidance_scale=7.5, mis=0.5, **batching)

    den = pipe.denoiser()
    t = torch.full((len(counts),), 751, dtype=torch.int64)
    x = torch.cat(x_Ts)
    ctx = torch.cat([c.context for c in globs])
    gr = {k: torch.cat([c.grounding[k] for c in globs]) for k in globs[0].grounding}
    with torch.no_grad():
        stacked = den(x, t, ctx, gr, 1.0)
        single = torch.cat([den(x[i:i + 1], t[:1], ctx[i:i + 1], {k: v[i:i + 1] for k, v in gr.items()}, 1.0)
                            for i in range(len(counts))])
        delta = (stacked - single).abs().max().item()
        alone = [sample(den, xt, gl, ic, unc, s) for xt, gl, ic in zip(x_Ts, globs, insts)]
        together = sample_group(den, x_Ts, globs, insts, unc, s)
    tol = 2 * delta * _error_gain(4, 7.5)
    for a, b in zip(alone, together):
        assert (a - b).abs().max().item() <= tol, (delta, tol)
