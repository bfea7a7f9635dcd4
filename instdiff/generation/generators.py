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
time): the label of the model's rows, the location inputs it accepts, the defaults it has where InstanceDiffusion's
differ, and the path of its loader. docs/models.md walks through adding a third one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Mapping, Protocol, Sequence

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

    ``loader``: "module:Class" whose ``from_folder(folder, precision=, device=, refiner=)`` returns the generator;
    ``locations``: the experiment ``location`` values the model takes; ``defaults``: GenerationSettings fields whose
    default differs for this model (the config schema holds InstanceDiffusion's); ``unused``: settings the model
    has no counterpart for, which an experiment must leave at 0 / unset; ``paper_method``: its key in
    config/paper_results.yaml; ``refiner``: whether the SDXL refiner cascade applies.
    """

    label: str
    loader: str
    locations: tuple[str, ...]
    paper_method: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    unused: tuple[str, ...] = ()
    refiner: bool = False


GENERATORS: dict[str, GeneratorSpec] = {
    "instancediffusion": GeneratorSpec(
        label="InstanceDiffusion", loader="instdiff.generation.pipeline:InstanceDiffusionPipeline",
        locations=("box", "mask", "point", "scribble"), paper_method="instancediffusion", refiner=True,
    ),
    # GLIGEN (Li et al., CVPR 2023) through diffusers' StableDiffusionGLIGENPipeline: boxes and phrases only. Its
    # scheduled sampling (grounding in the first beta of the steps) is our `alpha`; 0.3 is GLIGEN's and diffusers'
    # default, and the InstanceDiffusion paper states no other. It has no multi-instance sampler.
    "gligen": GeneratorSpec(
        label="GLIGEN", loader="instdiff.generation.gligen:GligenPipeline", locations=("box",),
        paper_method="gligen", defaults={"alpha": 0.3, "mis": 0.0}, unused=("mis",),
    ),
}


def model_of(experiment: Mapping[str, Any]) -> str:
    """The generator an experiment config names (``model``, InstanceDiffusion when absent)."""
    return experiment.get("model", DEFAULT_MODEL)


def spec_of(model: str, where: str = "model") -> GeneratorSpec:
    if model not in GENERATORS:
        raise InputError(None, f"unknown model {model!r}", f"use one of {sorted(GENERATORS)}", where)
    return GENERATORS[model]


def check_experiment(name: str, experiment: Mapping[str, Any], config_file: str | None = None) -> str:
    """The model of generated experiment ``name``, after checking that it can run it; else one InputError naming
    the key (``experiments.<name>.model`` / ``.location`` / ``.mis`` / ``.refiner``) and the fix."""
    key = f"experiments.{name}"
    model = model_of(experiment)
    spec = spec_of(model, f"{key}.model")
    location = experiment.get("location", "mask")  # the schema's default
    if location not in spec.locations:
        raise InputError(
            config_file, f"model {model!r} takes {' / '.join(spec.locations)} layouts only, but experiment {name!r} "
            f"has location {location!r}",
            f"set {key}.location to one of {list(spec.locations)}, or {key}.model to a model that takes "
            f"{location} inputs (instancediffusion)", f"{key}.model",
        )
    for setting in spec.unused:
        if experiment.get(setting):
            raise InputError(config_file, f"model {model!r} has no counterpart of {setting!r}",
                             f"remove {key}.{setting} or set it to 0", f"{key}.{setting}")
    if experiment.get("refiner") and not spec.refiner:
        raise InputError(config_file, f"the SDXL refiner cascade is InstanceDiffusion's inference.py option; model "
                         f"{model!r} has none", f"remove {key}.refiner", f"{key}.refiner")
    return model


def model_defaults(model: str) -> Mapping[str, Any]:
    """Settings defaults of ``model`` where they differ from the schema's (InstanceDiffusion's)."""
    return spec_of(model).defaults


def model_experiments(config: Mapping[str, Any], model: str) -> list[str]:
    """Generated experiments of ``config`` run by ``model`` (e.g. the "GLIGEN (ours)" rows), in config order."""
    return [name for name, exp in (config.get("experiments") or {}).items()
            if exp.get("kind") == "generated" and model_of(exp) == model]


def load_generator(model: str, folder, precision="fp32", device=None, refiner: str | None = None) -> Generator:
    """The generator ``model`` loaded from its model folder (imports torch and the model's library)."""
    module, cls = spec_of(model).loader.split(":")
    return getattr(import_module(module), cls).from_folder(folder, precision=precision, device=device,
                                                           refiner=refiner)
