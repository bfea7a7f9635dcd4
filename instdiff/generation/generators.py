"""The generators the shard runner can call, by the name an experiment gives in ``model:``.

A generator is a pipeline object the shard runner (:mod:`instdiff.generation.shard`) loads once per job from a model
folder and calls per layout; it never sees shards, seeds derivation, records or files:

- ``generator(layout, settings, seed=int) -> PipelineOutput`` makes one 512x512 image of one layout;
- ``generator.generate_group(layouts, settings, seeds=[...]) -> [PipelineOutput]`` makes one image per layout
  (``generation.group_size`` > 1; a generator that cannot batch different layouts loops);
- ``generator.device`` is where it computes (recorded in the shard manifest).

``PipelineOutput`` (:mod:`instdiff.generation.pipeline`) carries the PIL images, the timings and the notes. The
initial noise of an image is ``torch.randn((1, 4, 64, 64), generator=torch.Generator("cpu").manual_seed(seed))`` in
both generators here, so two models given the same seed start from the same x_T.

:data:`GENERATORS` holds what the workflow needs to know without importing torch (the Snakefile reads it at parse
time): the label of the model's rows, the location inputs it accepts, the settings it has no counterpart of, and its
loader (which imports the model's code only when called). The settings themselves are the experiment's
(:class:`~instdiff.generation.settings.GenerationSettings`, one set of keys for every model): the config states a
GLIGEN experiment's ``alpha`` (its scheduled-sampling beta) and ``mis: 0`` explicitly, as the schema's defaults are
InstanceDiffusion's. docs/models.md walks through adding a third one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from instdiff.core.errors import InputError

DEFAULT_MODEL = "instancediffusion"


class Generator(Protocol):
    """What the shard runner calls (see the module docstring)."""

    device: Any

    def __call__(self, layout, settings, seed: int | None = None): ...

    def generate_group(self, layouts: Sequence, settings, seeds: Sequence[int] | None = None) -> list: ...


@dataclass(frozen=True)
class GeneratorSpec:
    """One model the shard runner can call.

    ``loader``: ``loader(folder, precision=, device=, refiner=)`` returns the generator (it imports torch and the
    model's library when called; a static import inside it keeps the rules' code hash following the model's module);
    ``locations``: the experiment ``location`` values the model takes; ``unused``: settings the model has no
    counterpart of, which an experiment must set to 0; ``paper_method``: its key in config/paper_results.yaml;
    ``refiner``: whether the SDXL refiner cascade applies.
    """

    label: str
    loader: Callable[..., Generator]
    locations: tuple[str, ...]
    paper_method: str
    unused: tuple[str, ...] = ()
    refiner: bool = False


def _instancediffusion(folder, **kwargs) -> Generator:
    from instdiff.generation.pipeline import InstanceDiffusionPipeline

    return InstanceDiffusionPipeline.from_folder(folder, **kwargs)


def _gligen(folder, **kwargs) -> Generator:
    from instdiff.generation.gligen import GligenPipeline

    return GligenPipeline.from_folder(folder, **kwargs)


GENERATORS: dict[str, GeneratorSpec] = {
    "instancediffusion": GeneratorSpec(
        label="InstanceDiffusion", loader=_instancediffusion,
        locations=("box", "mask", "point", "scribble"), paper_method="instancediffusion", refiner=True,
    ),
    # GLIGEN (Li et al., CVPR 2023) through diffusers' StableDiffusionGLIGENPipeline: boxes and phrases only. Its
    # scheduled sampling (grounding in the first beta of the steps) is our `alpha` (GLIGEN's and diffusers' default
    # 0.3; the InstanceDiffusion paper states no other). It has no multi-instance sampler.
    "gligen": GeneratorSpec(
        label="GLIGEN", loader=_gligen, locations=("box",),
        paper_method="gligen", unused=("mis",),
    ),
}


def model_of(experiment: Mapping[str, Any]) -> str:
    """The generator an experiment config names (``model``, InstanceDiffusion when absent)."""
    return experiment.get("model", DEFAULT_MODEL)


def spec_of(model: str, where: str = "model") -> GeneratorSpec:
    if model not in GENERATORS:
        raise InputError(None, f"unknown model {model!r}", f"use one of {sorted(GENERATORS)}", where)
    return GENERATORS[model]


def check_experiment(name: str, experiment: Mapping[str, Any], config_file: str | None = None) -> str | None:
    """The model of generated experiment ``name``, after checking that it can run it (None for an experiment that
    generates nothing, which must not name one); else one InputError naming the key (``experiments.<name>.model`` /
    ``.location`` / ``.mis`` / ``.refiner``) and the fix."""
    key = f"experiments.{name}"
    if experiment.get("kind", "generated") != "generated":
        if "model" in experiment:
            raise InputError(config_file, f"experiment {name!r} of kind {experiment['kind']!r} generates nothing, so "
                             "it has no model", f"remove {key}.model", f"{key}.model")
        return None
    model = model_of(experiment)
    spec = spec_of(model, f"{key}.model")
    location = experiment.get("location", "mask")  # the schema's default
    if location not in spec.locations:
        able = [m for m, s in GENERATORS.items() if location in s.locations]
        raise InputError(
            config_file, f"model {model!r} takes {' / '.join(spec.locations)} layouts only, but experiment {name!r} "
            f"has location {location!r}",
            f"set {key}.location to one of {list(spec.locations)}, or {key}.model to one of {able}", f"{key}.model",
        )
    for setting in spec.unused:
        if experiment.get(setting, 1) != 0:  # absent: the schema's default (InstanceDiffusion's) would apply
            raise InputError(config_file, f"model {model!r} has no counterpart of {setting!r}",
                             f"set {key}.{setting}: 0", f"{key}.{setting}")
    if experiment.get("refiner") and not spec.refiner:
        raise InputError(config_file, f"the SDXL refiner cascade is InstanceDiffusion's inference.py option; model "
                         f"{model!r} has none", f"remove {key}.refiner", f"{key}.refiner")
    return model


def model_experiments(config: Mapping[str, Any], model: str) -> list[str]:
    """Generated experiments of ``config`` run by ``model`` (e.g. the "GLIGEN (ours)" rows), in config order."""
    return [name for name, exp in (config.get("experiments") or {}).items()
            if exp.get("kind") == "generated" and model_of(exp) == model]


def load_generator(model: str, folder, precision="fp32", device=None, refiner: str | None = None) -> Generator:
    """The generator ``model`` loaded from its model folder (imports torch and the model's library)."""
    return spec_of(model).loader(folder, precision=precision, device=device, refiner=refiner)
