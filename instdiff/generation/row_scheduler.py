"""Which images of a generation group share each denoiser call: a queue of pending images refilling freed rows.

An image with n instances needs (n + 1) chains × 2 (CFG) rows per guided evaluation until its MIS merge, then
2 rows (:func:`evaluation_rows`). Started all at once, a group's calls shrink to 2 rows per image after the merge
and the accelerator idles. :class:`RowScheduler` instead keeps the images of a group in their canonical order,
starts the next pending image whenever its first evaluation fits in the rows the active images leave free under
``capacity`` (``generation.max_batch``), and so keeps each call near ``capacity`` rows.

The schedule depends only on the group's images and the settings, never on the shard count, so shards stay
byte-identical. Pure integer bookkeeping: the sampler (:func:`instdiff.generation.sampler.sample_group`) owns the tensors.

Refill is opt-in: at the same group and ``max_batch``, starting every image at once and cutting each step's rows
into ``max_batch`` calls takes fewer calls, because staggered starts lengthen the group's chain of dependent steps
(:meth:`RowScheduler.call_rows` counts both; ``benchmarks/README.md``).
"""

from __future__ import annotations

from collections import deque
from typing import Sequence


def evaluation_rows(n_instances: int, steps: int, mis_steps: int, cfg: bool) -> list[int]:
    """Rows of each guided evaluation of one image, in order.

    ``mis_steps`` = ``int(steps·mis)`` (capped at ``steps``). PLMS step 0 evaluates twice (pseudo improved Euler),
    so the MIS phase holds ``mis_steps + 1`` evaluations of (n + 1) chains, then ``steps − mis_steps`` of the
    global chain alone (without MIS: ``steps + 1`` of one chain). CFG doubles every row.
    """
    per_chain = 2 if cfg else 1
    if mis_steps <= 0:
        return [per_chain] * (steps + 1)
    return [(n_instances + 1) * per_chain] * (mis_steps + 1) + [per_chain] * (steps - mis_steps)


class RowScheduler:
    """A group's images through shared denoiser calls.

    ``plans[k]`` is image k's :func:`evaluation_rows`. Each call (:meth:`start_call`) evaluates every active
    image once; an image's rows only shrink over its run, so admitting the head of the queue when its first
    evaluation fits keeps every later call within ``capacity`` too. Images start in queue order (first in, first
    out: an image never overtakes an earlier one). ``capacity`` None starts every image at once (no refill); an
    image larger than ``capacity`` starts alone once nothing else is active (the sampler then splits its rows).
    """

    def __init__(self, plans: Sequence[Sequence[int]], capacity: int | None):
        if capacity is not None and capacity < 1:
            raise ValueError(f"capacity must be >= 1 or None, got {capacity}")
        self.plans = [list(p) for p in plans]
        self.capacity = capacity
        self.pending: deque[int] = deque(range(len(self.plans)))
        self.position: dict[int, int] = {}  # active image -> index of its next evaluation (insertion = start order)

    def done(self) -> bool:
        return not self.pending and not self.position

    def rows(self, image: int) -> int:
        return self.plans[image][self.position[image]]

    def active_rows(self) -> int:
        return sum(self.rows(k) for k in self.position)

    def start_call(self) -> list[int]:
        """Admit pending images that fit, then return the active images (in start order) for the next call."""
        while self.pending and self._fits(self.plans[self.pending[0]][0]):
            self.position[self.pending.popleft()] = 0
        return list(self.position)

    def _fits(self, rows: int) -> bool:
        return not self.position or self.capacity is None or self.active_rows() + rows <= self.capacity

    def finish_call(self) -> list[int]:
        """Every active image had its evaluation: move each to its next one; return the images now finished."""
        finished = []
        for k in list(self.position):
            self.position[k] += 1
            if self.position[k] == len(self.plans[k]):
                del self.position[k]
                finished.append(k)
        return finished

    def call_rows(self) -> list[int]:
        """Rows of each call of the whole schedule (from the current state, which is left unchanged)."""
        probe = RowScheduler(self.plans, self.capacity)
        probe.pending, probe.position = deque(self.pending), dict(self.position)
        rows = []
        while not probe.done():
            probe.start_call()
            rows.append(probe.active_rows())
            probe.finish_call()
        return rows
