"""PLMS with classifier-free guidance, the alpha schedule and the Multi-Instance Sampler (MIS), as the original.

The original (``ldm/models/diffusion/plms.py`` and ``plms_instance.py``) is reproduced step for step:

- **Schedule.** ᾱ = cumprod(1 − β) with β = linspace(√0.00085, √0.012, 1000)² in float64, stored as float32
  (diffusers' ``scaled_linear``). With S steps the timesteps are ``range(0, 1000, 1000 // S) + 1`` visited in
  reverse (981, 961, …, 1 for S = 50). ᾱ_prev of the last step is ᾱ[0].
- **Update** (DDIM, η = 0): x̂0 = (x − √(1−ᾱ_t)·ε′)/√ᾱ_t, x_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev)·ε′.
- **Pseudo linear multistep ε′.** Step 0 is a pseudo improved Euler step with two guided evaluations
  (ε_a at (x, t_0), ε_b at (x₁, t_1) with x₁ the update of x with ε_a; ε′ = (ε_a + ε_b)/2); later steps use the
  Adams–Bashforth combinations of the current ε and the history. The history holds the FIRST ε of every step
  (never ε_b or ε′), at most 3 entries. So S steps cost S + 1 guided evaluations.
- **Guidance.** ε = ε_u + g·(ε_c − ε_u); the unconditional pass uses the negative prompt and the null
  grounding input. With g = 1 there is no unconditional pass.
- **Alpha schedule.** Before PLMS step i the fuser gate scale is ``alpha_schedule(S, alpha)[i]``:
  ``int(S·alpha)`` ones, then zeros (counted in PLMS steps, not in scheduler entries).
- **MIS.** With n instances and ``mis_step = int(S·mis)``, n + 1 chains start from the same x_T: the global
  chain (prompt + all instances) and one chain per instance (its caption + its single-slot grounding). Each runs
  steps 0 … mis_step − 1 with its own history, the same alpha schedule and the global negative prompt. The
  latent then becomes the plain mean of the n + 1 chain latents and steps mis_step … S − 1 continue with the
  global inputs and the GLOBAL chain's history.

The sampler is generic over a denoiser ``eps = denoiser(x, t, context, grounding, gate_scale)`` with ``t`` an
int64 tensor of shape (B,), ``grounding`` a dict of (B, 30, …) tensors or ``None`` for the null input.

Two execution modes give the same numbers (up to float32 batch effects of the denoiser):
``batched=True`` evaluates every chain and both guidance passes in ONE denoiser call per evaluation
(the null grounding is then passed as explicit zeros, which is what ``None`` means to the model);
``batched=False`` calls the denoiser exactly in the original's order (chain by chain, cond then uncond).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch

from instdiff.generation.row_scheduler import RowScheduler, evaluation_rows
from instdiff.core.original_constants import LINEAR_END, LINEAR_START, NUM_TRAIN_TIMESTEPS

log = logging.getLogger(__name__)


Grounding = dict[str, torch.Tensor]


class Denoiser(Protocol):
    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        grounding: Grounding | None,
        gate_scale: float,
    ) -> torch.Tensor: ...


# --------------------------------------------------------------------------------------------- schedules


def scaled_linear_alphas_cumprod(
    linear_start: float = LINEAR_START, linear_end: float = LINEAR_END, n: int = NUM_TRAIN_TIMESTEPS
) -> torch.Tensor:
    """ᾱ of the ldm ``linear`` schedule (= diffusers ``scaled_linear``): float64 arithmetic, float32 result."""
    betas = torch.linspace(linear_start**0.5, linear_end**0.5, n, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


def plms_timesteps(steps: int, n_train: int = NUM_TRAIN_TIMESTEPS) -> list[int]:
    """The original's "uniform" DDIM timesteps, in visiting order: [981, 961, …, 1] for 50 steps."""
    if steps < 1 or steps > n_train:
        raise ValueError(f"steps must be in 1..{n_train}, got {steps}")
    c = n_train // steps
    ts = [t + 1 for t in range(0, n_train, c)]
    if len(ts) != steps:
        # The original would silently run len(ts) steps with a 'steps'-long alpha schedule; refuse instead.
        raise ValueError(f"steps={steps} does not divide {n_train}: the original would run {len(ts)} steps; "
                         f"use a divisor of {n_train} (e.g. 50, 25, 20, 10, 4)")
    return ts[::-1]


def alpha_schedule(steps: int, alpha: float) -> list[float]:
    """Fuser gate scale per PLMS step: ``int(steps·alpha)`` ones then zeros (``alpha_generator(S, [a, 0, 1−a])``)."""
    n_on = int(steps * alpha)
    return [1.0] * n_on + [0.0] * (steps - n_on)


def mis_step_count(steps: int, mis: float) -> int:
    """Number of PLMS steps run as separate chains before the MIS merge: ``int(steps·mis)``."""
    return int(steps * mis) if mis > 0 else 0


def guided_evaluations(steps: int, n_instances: int, mis: float) -> int:
    """Guided (cond [+ uncond]) evaluations of one image: (n+1)·(m+1) + (S − m) with MIS, S + 1 without."""
    m = mis_step_count(steps, mis)
    if m == 0:
        return steps + 1
    m = min(m, steps)
    return (n_instances + 1) * (m + 1) + (steps - m)


@dataclass
class PLMSSchedule:
    """Per-step constants of the PLMS sampler, in float32 as the original's buffers."""

    timesteps: list[int]
    a_t: torch.Tensor  # ᾱ at each visited timestep
    a_prev: torch.Tensor  # ᾱ at the next visited timestep (ᾱ[0] after the last)
    sqrt_one_minus_a_t: torch.Tensor

    @classmethod
    def make(cls, steps: int, alphas_cumprod: torch.Tensor | None = None) -> "PLMSSchedule":
        ac = scaled_linear_alphas_cumprod() if alphas_cumprod is None else alphas_cumprod.to(torch.float32).cpu()
        ts = plms_timesteps(steps, len(ac))
        a_t = ac[ts]
        a_prev = torch.cat([ac[ts[1:]], ac[:1]])
        return cls(ts, a_t, a_prev, torch.sqrt(1.0 - a_t))

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def update(self, x: torch.Tensor, eps: torch.Tensor, i: int) -> torch.Tensor:
        """DDIM (η = 0) update of x from timestep index i with ε′ (same float32 op order as the original).

        An fp16 ε′ (autocast-fp16) is promoted first: the original multiplies it by float32 (b,1,1,1) tensors."""
        dt = x.dtype
        eps = eps.to(dt)
        a_t = self.a_t[i].to(dt)
        a_prev = self.a_prev[i].to(dt)
        s1m = self.sqrt_one_minus_a_t[i].to(dt)
        pred_x0 = (x - s1m * eps) / a_t.sqrt()
        dir_xt = (1.0 - a_prev).sqrt() * eps
        return a_prev.sqrt() * pred_x0 + dir_xt


def multistep_eps(e_t: torch.Tensor, history: Sequence[torch.Tensor]) -> torch.Tensor:
    """Adams–Bashforth ε′ of steps ≥ 1 from the current ε and the history (oldest first)."""
    if len(history) == 1:
        return (3 * e_t - history[-1]) / 2
    if len(history) == 2:
        return (23 * e_t - 16 * history[-1] + 5 * history[-2]) / 12
    return (55 * e_t - 59 * history[-1] + 37 * history[-2] - 9 * history[-3]) / 24


# --------------------------------------------------------------------------------------------- conditions


@dataclass
class ChainCondition:
    """What one chain conditions on: its prompt encoding (1, L, D) and its grounding dict (batch 1) or None."""

    context: torch.Tensor
    grounding: Grounding | None


@dataclass
class SamplerSettings:
    steps: int = 50
    guidance_scale: float = 7.5
    alpha: float = 1.0
    mis: float = 0.0
    batched: bool = True
    max_batch: int | None = None  # split a batched call into chunks of at most this many rows (memory)
    # sample_group: start a group's next images as rows free up, up to max_batch rows a call. Off by default: at
    # the same group and max_batch, all-at-once calls cut into max_batch rows are fewer (benchmarks/README.md).
    refill: bool = False


@dataclass
class SamplerTrace:
    """Optional record of a run, for tests and debugging: the x fed to each evaluation and the merge inputs."""

    x_in: dict[str, torch.Tensor] = field(default_factory=dict)  # "<chain>/step<NN><a|b>" -> (1,4,H,W)
    chain_latents_at_merge: torch.Tensor | None = None


def null_grounding_like(g: Grounding) -> Grounding:
    """The null grounding input: all-zero tensors of the same shapes (what the model uses for ``None``)."""
    return {k: torch.zeros_like(v) for k, v in g.items()}


def concat_groundings(groundings: Sequence[Grounding]) -> Grounding:
    keys = groundings[0].keys()
    return {k: torch.cat([g[k] for g in groundings], dim=0) for k in keys}


class GuidedEps:
    """ε of a batch of chains with classifier-free guidance, either in one denoiser call or in the original order.

    ``conds`` are the chains (batch rows, in order); ``uncond_context`` (1, L, D) is the negative prompt shared
    by every chain.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        conds: Sequence[ChainCondition],
        uncond_context: torch.Tensor,
        guidance_scale: float,
        batched: bool,
        max_batch: int | None = None,
    ):
        self.denoiser = denoiser
        self.conds = list(conds)
        self.uncond_context = uncond_context
        self.g = float(guidance_scale)
        self.batched = batched
        self.max_batch = max_batch
        self.use_uncond = self.g != 1.0
        if batched:
            self._prepare_batch()

    def _prepare_batch(self) -> None:
        n = len(self.conds)
        ctx = torch.cat([c.context for c in self.conds], dim=0)
        template = next((c.grounding for c in self.conds if c.grounding is not None), None)
        if template is not None:
            rows = [c.grounding if c.grounding is not None else null_grounding_like(template) for c in self.conds]
            grounding = concat_groundings(rows)
        else:
            grounding = None
        if self.use_uncond:
            uctx = self.uncond_context.expand(n, *self.uncond_context.shape[1:])
            ctx = torch.cat([ctx, uctx], dim=0)
            if grounding is not None:
                grounding = concat_groundings([grounding, null_grounding_like(grounding)])
        self._ctx = ctx
        # A denoiser that can tokenize grounding ahead (the InstanceDiffusion UNet) does it once, not every step.
        prepare = getattr(self.denoiser, "prepare_grounding", None)
        self._grounding = prepare(grounding) if prepare is not None and grounding is not None else grounding

    def __call__(self, x: torch.Tensor, t: int, scale: float) -> torch.Tensor:
        """Guided ε for x of shape (n_chains, C, H, W) at integer timestep t with fuser gate scale ``scale``."""
        if self.batched:
            return self._batched(x, t, scale)
        outs = []
        for b, cond in enumerate(self.conds):
            xb = x[b : b + 1]
            tb = torch.full((1,), t, dtype=torch.int64, device=x.device)
            e_c = self.denoiser(xb, tb, cond.context, cond.grounding, scale)
            if self.use_uncond:
                e_u = self.denoiser(xb, tb, self.uncond_context, None, scale)
                e_c = e_u + self.g * (e_c - e_u)
            outs.append(e_c)
        return torch.cat(outs, dim=0)

    def _batched(self, x: torch.Tensor, t: int, scale: float) -> torch.Tensor:
        n = x.shape[0]
        xs = torch.cat([x, x], dim=0) if self.use_uncond else x
        total = xs.shape[0]
        step = self.max_batch or total
        eps_parts = []
        for s in range(0, total, step):
            e = min(total, s + step)
            g = None if self._grounding is None else _rows(self._grounding, s, e, total)
            tb = torch.full((e - s,), t, dtype=torch.int64, device=x.device)
            eps_parts.append(self.denoiser(xs[s:e], tb, self._ctx[s:e], g, scale))
        eps = torch.cat(eps_parts, dim=0)
        if not self.use_uncond:
            return eps
        e_c, e_u = eps[:n], eps[n:]
        return e_u + self.g * (e_c - e_u)


def _rows(grounding: Grounding, start: int, stop: int, total: int) -> Grounding:
    """Rows start:stop of a batched grounding dict; per-batch values (a drop flag) are kept whole."""
    return {k: v[start:stop] if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == total else v
            for k, v in grounding.items()}


# --------------------------------------------------------------------------------------------- the loop


def run_plms_steps(
    x: torch.Tensor,
    eps_fn: Callable[[torch.Tensor, int, float], torch.Tensor],
    schedule: PLMSSchedule,
    gate_scales: Sequence[float],
    step_range: range,
    history: list[torch.Tensor],
    trace: SamplerTrace | None = None,
    chain_names: Sequence[str] = ("global_",),
    progress: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Run PLMS steps ``step_range`` on x (chains along the batch axis); ``history`` is updated in place."""
    n_steps = schedule.steps
    for i in step_range:
        t = schedule.timesteps[i]
        scale = gate_scales[i]
        _record(trace, chain_names, i, "a", x)
        e_t = eps_fn(x, t, scale)
        if not history:
            # Pseudo improved Euler: predictor with ε_a, corrector ε_b at the next timestep.
            t_next = schedule.timesteps[min(i + 1, n_steps - 1)]
            x1 = schedule.update(x, e_t, i)
            _record(trace, chain_names, i, "b", x1)
            e_next = eps_fn(x1, t_next, scale)
            e_prime = (e_t + e_next) / 2
        else:
            e_prime = multistep_eps(e_t, history)
        x = schedule.update(x, e_prime, i)
        history.append(e_t)
        if len(history) > 3:
            history.pop(0)
        if progress is not None:
            progress()
    return x


def _record(trace: SamplerTrace | None, names: Sequence[str], i: int, ab: str, x: torch.Tensor) -> None:
    if trace is None:
        return
    for b, name in enumerate(names):
        trace.x_in[f"{name}/step{i:02d}{ab}"] = x[b : b + 1].detach().clone()


def sample(
    denoiser: Denoiser,
    x_T: torch.Tensor,
    global_cond: ChainCondition,
    instance_conds: Sequence[ChainCondition],
    uncond_context: torch.Tensor,
    settings: SamplerSettings,
    alphas_cumprod: torch.Tensor | None = None,
    trace: SamplerTrace | None = None,
    progress: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Sample one image's latent from x_T (1, C, H, W) with PLMS, CFG, the alpha schedule and MIS.

    ``instance_conds`` are the per-instance chains (ignored when ``settings.mis == 0``). Returns the final
    latent (1, C, H, W). ``progress`` is called once per PLMS step of the global chain.
    """
    schedule = PLMSSchedule.make(settings.steps, alphas_cumprod)
    scales = alpha_schedule(settings.steps, settings.alpha)
    m = min(mis_step_count(settings.steps, settings.mis), settings.steps)
    chains = [global_cond] + (list(instance_conds) if m > 0 else [])
    names = ["global_"] + [f"inst{k}" for k in range(1, len(chains))]

    def guided(conds: Sequence[ChainCondition]) -> GuidedEps:
        return GuidedEps(denoiser, conds, uncond_context, settings.guidance_scale, settings.batched, settings.max_batch)

    x_T = x_T.detach()
    if m > 0:
        if settings.batched:
            x = x_T.expand(len(chains), *x_T.shape[1:]).clone()
            history: list[torch.Tensor] = []
            x = run_plms_steps(x, guided(chains), schedule, scales, range(m), history, trace, names, progress)
            chain_latents = list(x.split(1, dim=0))
            global_history = [h[:1] for h in history]
        else:
            chain_latents, histories = [], []
            for k, cond in enumerate(chains):
                h: list[torch.Tensor] = []
                xk = run_plms_steps(
                    x_T.clone(), guided([cond]), schedule, scales, range(m), h, trace, [names[k]],
                    progress if k == 0 else None,
                )
                chain_latents.append(xk)
                histories.append(h)
            global_history = histories[0]
        stacked = torch.stack(chain_latents, dim=0)
        if trace is not None:
            trace.chain_latents_at_merge = stacked.detach().clone()
        x = stacked.mean(dim=0)
        history = global_history
        start = m
    else:
        x, history, start = x_T.clone(), [], 0
    return run_plms_steps(
        x, guided([global_cond]), schedule, scales, range(start, settings.steps), history, trace, ["global_"], progress
    )


def sample_group(
    denoiser: Denoiser,
    x_Ts: Sequence[torch.Tensor],
    global_conds: Sequence[ChainCondition],
    instance_conds: Sequence[Sequence[ChainCondition]],
    uncond_context: torch.Tensor,
    settings: SamplerSettings,
    alphas_cumprod: torch.Tensor | None = None,
    progress: Callable[[], None] | None = None,
) -> list[torch.Tensor]:
    """:func:`sample` for several images at once: the active images' chains and both guidance passes share each
    denoiser call (split into ``settings.max_batch`` rows at most).

    With ``settings.refill`` and a ``max_batch``, images start as rows free up (:class:`RowScheduler`): when an
    image's MIS merge drops its instance rows, or it finishes, the next images of the group start into the freed
    rows (opt-in: :mod:`instdiff.generation.row_scheduler` says why). Otherwise every image starts at once and, sharing the
    settings, all merge on the same step. Each image runs its own PLMS arithmetic (elementwise, as :func:`sample`),
    so its numbers differ from :func:`sample` only by the denoiser's batch effects. Returns one (1, C, H, W)
    latent per image; ``progress`` is called once per shared evaluation.
    """
    if not settings.batched:
        return [sample(denoiser, x, g, ic, uncond_context, settings, alphas_cumprod)
                for x, g, ic in zip(x_Ts, global_conds, instance_conds)]
    schedule = PLMSSchedule.make(settings.steps, alphas_cumprod)
    scales = alpha_schedule(settings.steps, settings.alpha)
    m = min(mis_step_count(settings.steps, settings.mis), settings.steps)
    eps = _GroupEps(denoiser, uncond_context, settings.guidance_scale, settings.max_batch,
                    [c for g, ic in zip(global_conds, instance_conds) for c in [g, *ic]])
    runs = [_ImageRun(x, g, ic, m, eps) for x, g, ic in zip(x_Ts, global_conds, instance_conds)]
    plans = [evaluation_rows(len(r.chains) - 1, settings.steps, m, eps.use_uncond) for r in runs]
    scheduler = RowScheduler(plans, settings.max_batch if settings.refill else None)
    latents: list[torch.Tensor | None] = [None] * len(runs)
    while not scheduler.done():
        active = [runs[k] for k in scheduler.start_call()]
        # Images at different steps may differ in gate scale (alpha schedule): one call per scale.
        by_scale: dict[float, list[_ImageRun]] = {}
        for r in active:
            by_scale.setdefault(scales[r.step], []).append(r)
        for scale, group in by_scale.items():
            inputs = [r.evaluation_input(schedule) for r in group]
            for r, e in zip(group, eps(inputs, [r.rows for r in group], scale)):
                r.advance(e, schedule)
        for k in scheduler.finish_call():
            latents[k] = runs[k].x
        if progress is not None:
            progress()
    return latents  # type: ignore[return-value]


class _ImageRun:
    """One image of a group on its way through the PLMS steps: its chains' latents and history, the step it is
    at, the pending predictor of step 0's pseudo improved Euler, and the denoiser rows of its current phase."""

    def __init__(self, x_T: torch.Tensor, global_cond: ChainCondition, instance_conds: Sequence[ChainCondition],
                 mis_steps: int, eps: "_GroupEps"):
        self.chains = [global_cond] + (list(instance_conds) if mis_steps > 0 else [])
        self.mis_steps = mis_steps
        self.eps = eps
        self.rows = eps.rows(self.chains)
        self.x = x_T.detach().expand(len(self.chains), *x_T.shape[1:]).clone()
        self.history: list[torch.Tensor] = []
        self.step = 0
        self.predictor: tuple[torch.Tensor, torch.Tensor] | None = None  # (ε_a, x₁) between step 0's evaluations

    def evaluation_input(self, schedule: PLMSSchedule) -> tuple[torch.Tensor, int]:
        """(x, t) of the next evaluation: x at this step's timestep, or step 0's corrector x₁ at the next one."""
        if self.predictor is None:
            return self.x, schedule.timesteps[self.step]
        return self.predictor[1], schedule.timesteps[min(self.step + 1, schedule.steps - 1)]

    def advance(self, e: torch.Tensor, schedule: PLMSSchedule) -> None:
        """Take the guided ε of the evaluation from :meth:`evaluation_input` (the arithmetic of run_plms_steps)."""
        i = self.step
        if not self.history and self.predictor is None:
            self.predictor = (e, schedule.update(self.x, e, i))
            return
        if self.predictor is not None:
            e_t, e_prime = self.predictor[0], (self.predictor[0] + e) / 2
            self.predictor = None
        else:
            e_t, e_prime = e, multistep_eps(e, self.history)
        self.x = schedule.update(self.x, e_prime, i)
        self.history.append(e_t)
        if len(self.history) > 3:
            self.history.pop(0)
        self.step += 1
        if self.step == self.mis_steps:
            self._merge()

    def _merge(self) -> None:
        # The same merge as sample(): the plain mean of the chain latents; the global chain's history goes on.
        self.x = torch.stack(list(self.x.split(1, dim=0)), dim=0).mean(dim=0)
        self.history = [h[:1] for h in self.history]
        self.chains = self.chains[:1]
        self.rows = self.eps.rows(self.chains)


@dataclass
class _Rows:
    """One image phase's denoiser inputs: chain contexts (n, L, D) and grounding rows (prepared when the
    denoiser can), for the conditional pass; the unconditional rows are shared (:class:`_GroupEps`)."""

    n: int
    context: torch.Tensor
    grounding: Grounding | None


class _GroupEps:
    """Guided ε of several images' chains in shared denoiser calls, rows laid out as :class:`GuidedEps` lays out
    one image's: every image's chains, then (with CFG) their unconditional twins; at most ``max_batch`` rows a call.

    ``all_conds`` are every chain of the group: if any has grounding, a chain without gets the null grounding
    (explicit zeros, which is what ``None`` means to the model). Grounding is prepared (tokenized) once per image
    phase, and the unconditional rows' null grounding once for the group, instead of at every call.
    """

    def __init__(self, denoiser: Denoiser, uncond_context: torch.Tensor, guidance_scale: float,
                 max_batch: int | None, all_conds: Sequence[ChainCondition]):
        self.denoiser = denoiser
        self.uncond_context = uncond_context
        self.g = float(guidance_scale)
        self.use_uncond = self.g != 1.0
        self.max_batch = max_batch
        self._prepare = getattr(denoiser, "prepare_grounding", None)
        self.template = next((c.grounding for c in all_conds if c.grounding is not None), None)
        self._null = None if self.template is None else self._prepared(null_grounding_like(self.template))

    def _prepared(self, grounding: Grounding) -> Grounding:
        return self._prepare(grounding) if self._prepare is not None else grounding

    def rows(self, conds: Sequence[ChainCondition]) -> _Rows:
        ctx = torch.cat([c.context for c in conds], dim=0)
        if self.template is None:
            return _Rows(len(conds), ctx, None)
        g = concat_groundings([c.grounding if c.grounding is not None else null_grounding_like(self.template)
                               for c in conds])
        return _Rows(len(conds), ctx, self._prepared(g))

    def __call__(self, inputs: Sequence[tuple[torch.Tensor, int]], rows: Sequence[_Rows],
                 scale: float) -> list[torch.Tensor]:
        """Guided ε per image for its (x (n, C, H, W), t) and its rows, all at fuser gate scale ``scale``."""
        x = torch.cat([xi for xi, _ in inputs], dim=0)
        t = torch.cat([torch.full((r.n,), ti, dtype=torch.int64, device=x.device) for (_, ti), r in zip(inputs, rows)])
        ctx = torch.cat([r.context for r in rows], dim=0)
        grounding = None if self.template is None else _cat_rows([r.grounding for r in rows])
        n = x.shape[0]
        if self.use_uncond:
            x, t = torch.cat([x, x], dim=0), torch.cat([t, t], dim=0)
            ctx = torch.cat([ctx, self.uncond_context.expand(n, *self.uncond_context.shape[1:])], dim=0)
            if grounding is not None:
                grounding = _cat_rows([grounding, _expand_rows(self._null, n)])
        total = x.shape[0]
        step = self.max_batch or total
        parts = []
        for s in range(0, total, step):
            e = min(total, s + step)
            g = None if grounding is None else _rows(grounding, s, e, total)
            parts.append(self.denoiser(x[s:e], t[s:e], ctx[s:e], g, scale))
        eps = torch.cat(parts, dim=0)
        if self.use_uncond:
            eps = eps[n:] + self.g * (eps[:n] - eps[n:])
        return list(eps.split([r.n for r in rows], dim=0))


def _batch_size(grounding: Grounding) -> int:
    return next(v.shape[0] for v in grounding.values() if torch.is_tensor(v) and v.dim() > 0)


def _cat_rows(groundings: Sequence[Grounding]) -> Grounding:
    """Row-wise concatenation of (prepared) grounding dicts; per-batch values (a drop flag) must agree."""
    sizes = [_batch_size(g) for g in groundings]
    out = {}
    for k, v in groundings[0].items():
        if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == sizes[0]:
            out[k] = torch.cat([g[k] for g in groundings], dim=0)
        else:
            if any(g[k] != v for g in groundings[1:]):
                raise ValueError(f"grounding entry {k!r} differs between the images of a group")
            out[k] = v
    return out


def _expand_rows(grounding: Grounding, n: int) -> Grounding:
    """A one-row grounding dict repeated to n rows (views, no copy)."""
    return {k: v.expand(n, *v.shape[1:]) if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == 1 else v
            for k, v in grounding.items()}
