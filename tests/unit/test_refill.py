"""Refill: a group's next images start as MIS merges free rows; each image still gets what sampling it alone gives."""

from __future__ import annotations

import pytest
import torch

from instdiff.generation.row_scheduler import RowScheduler, evaluation_rows
from instdiff.generation.sampler import SamplerSettings, sample, sample_group
from tests.unit.test_sample_group import _images
from tests.unit.test_sampler import ToyDenoiser


class RowLog(ToyDenoiser):
    """The toy denoiser, recording the rows of every call."""

    def __init__(self):
        super().__init__()
        self.per_call: list[int] = []

    def __call__(self, x, *args):
        self.per_call.append(x.shape[0])
        return super().__call__(x, *args)


def test_evaluation_rows():
    # 2 instances, 4 steps, MIS 2 steps, CFG: 3 chains x 2 for steps 0 (twice), 1, then 2 rows for steps 2, 3.
    assert evaluation_rows(2, 4, 2, cfg=True) == [6, 6, 6, 2, 2]
    assert evaluation_rows(0, 4, 2, cfg=True) == [2, 2, 2, 2, 2]
    assert evaluation_rows(5, 4, 0, cfg=False) == [1] * 5
    assert evaluation_rows(1, 4, 4, cfg=False) == [2] * 5


def test_scheduler_rows_on_a_hand_checked_group():
    """Images with 2, 0, 1 instances (6, 2, 4 rows before the merge), 4 steps, MIS 2 steps, CFG, max_batch 8.

    Calls 1-3: images 0 and 1 (6 + 2); image 2 (4 rows) waits. Call 4: image 0 has merged (2) and image 1 has
    2, so image 2 starts: 2 + 2 + 4. Call 5: the same. Then images 0 and 1 are done: image 2 alone, 4, 2, 2.
    """
    plans = [evaluation_rows(n, 4, 2, cfg=True) for n in (2, 0, 1)]
    assert RowScheduler(plans, 8).call_rows() == [8, 8, 8, 8, 8, 4, 2, 2]
    # Without refill every image starts at once: 12 rows until the merge, then 6.
    assert RowScheduler(plans, None).call_rows() == [12, 12, 12, 6, 6]
    # Capacity 4: image 0 (6 rows) runs alone; image 1 joins at its merge; image 2 (4 rows) waits for image 1.
    assert RowScheduler(plans, 4).call_rows() == [6, 6, 6, 4, 4, 2, 2, 2, 4, 4, 4, 2, 2]


def test_scheduler_starts_images_in_order_and_reports_finished_ones():
    s = RowScheduler([evaluation_rows(n, 4, 2, cfg=True) for n in (2, 0, 1)], 8)
    started, finished = [], []
    while not s.done():
        active = s.start_call()
        started += [k for k in active if k not in started]
        finished += s.finish_call()
    assert started == [0, 1, 2] and finished == [0, 1, 2]


@pytest.mark.parametrize("mis,alpha,g,max_batch", [(0.5, 1.0, 7.5, 8), (0.5, 0.3, 5.0, 5), (0.36, 0.8, 7.5, 4),
                                                   (0.0, 1.0, 7.5, 4), (1.0, 1.0, 1.0, 3)])
def test_refill_equals_one_at_a_time_with_a_row_independent_denoiser(mis, alpha, g, max_batch):
    """Images at different steps share calls (and an alpha schedule splits calls by gate scale): the toy
    denoiser treats rows independently, so no number may change."""
    x_Ts, globs, insts, unc = _images([2, 0, 1, 3])
    s = SamplerSettings(steps=10, guidance_scale=g, alpha=alpha, mis=mis, max_batch=max_batch, refill=True)
    alone = [sample(ToyDenoiser(), x, gl, ic, unc, s) for x, gl, ic in zip(x_Ts, globs, insts)]
    together = sample_group(ToyDenoiser(), x_Ts, globs, insts, unc, s)
    for a, b in zip(alone, together):
        assert torch.equal(a, b)


def test_denoiser_calls_follow_the_schedule():
    """The hand-checked group through sample_group: the denoiser sees exactly the scheduler's rows per call."""
    x_Ts, globs, insts, unc = _images([2, 0, 1])
    den = RowLog()
    sample_group(den, x_Ts, globs, insts, unc,
                 SamplerSettings(steps=4, guidance_scale=7.5, mis=0.5, max_batch=8, refill=True))
    assert den.per_call == [8, 8, 8, 8, 8, 4, 2, 2]
    den = RowLog()
    sample_group(den, x_Ts, globs, insts, unc,
                 SamplerSettings(steps=4, guidance_scale=7.5, mis=0.5, max_batch=8, refill=False))
    assert den.per_call == [8, 4, 8, 4, 8, 4, 6, 6]  # all at once, 12 rows split into 8 + 4


class RowRecorder(torch.nn.Module):
    """Wraps a UNet; records the rows of every call."""

    def __init__(self, unet):
        super().__init__()
        self.inner, self.per_call = unet, []

    def set_location(self, location):
        self.inner.set_location(location)

    def forward(self, sample, *args):
        self.per_call.append(sample.shape[0])
        return self.inner(sample, *args)


class Refilling:
    """A pipeline whose groups refill (a ShardJob calls ``generate_group(layouts, settings, seeds=...)``)."""

    def __init__(self, pipe):
        self.pipe = pipe

    def __call__(self, *args, **kwargs):
        return self.pipe(*args, **kwargs)

    def generate_group(self, *args, **kwargs):
        return self.pipe.generate_group(*args, refill=True, **kwargs)


def test_shards_identical_with_refill(tmp_path):
    """Groups of 3 with max_batch 10: the first group's third layout (2 instances, 6 rows) starts at its
    neighbours' merge. One shard and three shards write the same bytes (a batch's make-up is the group's)."""
    from instdiff.generation.shard import ShardJob
    from instdiff.core.layout import write_layouts
    from tests.unit.test_generate import _layouts
    from tests.unit.tiny_stack import tiny_pipeline

    pipe = tiny_pipeline(tmp_path / "tiny")
    pipe.unet = RowRecorder(pipe.unet)
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    settings = {"location": "box", "steps": 4, "guidance_scale": 7.5, "alpha": 0.75, "mis": 0.5,
                "negative_prompt": "lowres", "max_batch": 10}

    def run(out, k, n):
        job = ShardJob(layouts, None, out, out / "shards" / f"{k}-of-{n}.json", "box", k, n, 2024, settings,
                       group_size=3)
        return job.run(Refilling(pipe))

    run(tmp_path / "a", 0, 1)
    # Canonical order 3, 5, 7 | 12 with 0, 1, 2 | 1 instances: 2 + 4 rows, then 7's 6 rows join at the merge;
    # the next step, 3 and 5 are at step 3 (gate 0 with alpha 0.75), 7 at step 0 (gate 1): two calls.
    assert pipe.unet.per_call[:6] == [6, 6, 6, 10, 4, 6]
    manifests = [run(tmp_path / "b", k, 3) for k in range(3)]
    assert [[r["id"] for r in m["images"]] for m in manifests] == [["3", "5", "7"], ["12"], []]
    for lay in _layouts():
        a, b = (tmp_path / x / f"{lay.id}.png" for x in "ab")
        assert a.read_bytes() == b.read_bytes(), lay.id
