"""The settings that decide an image besides its layout and seed, with the defaults of the config schema.

``config/schema/config.schema.yaml`` is the one place a generation default is written: the fields of
:class:`GenerationSettings` take their defaults from it, and :meth:`GenerationSettings.from_config` fills what a
config leaves out from it too. Library callers (tests, benchmarks) therefore get what a config without the key
gets; ``instdiff generate`` mimics ``inference.py``'s command line and passes that script's values explicitly.

Parsing a small YAML file only (no torch), so the Snakefile can import this module in every job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from instdiff.core.errors import InputError

# The workflow root holds the package and config/ side by side (the Snakefile and code_version assume it too).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema" / "config.schema.yaml"

# A field that the config does not set: ``batched`` (one UNet call per step or the original's one call per chain)
# is a switch of the CLI and the benchmarks.
NOT_FROM_CONFIG = ("batched",)


@lru_cache(maxsize=1)
def _schema_properties() -> tuple[dict, dict, dict]:
    """The schema's property definitions of an experiment, of the ``generation`` section and of a refiner."""
    if not SCHEMA_PATH.is_file():
        raise InputError(SCHEMA_PATH, "the config schema is missing (generation defaults are read from it)",
                         "run instdiff from its repository checkout (pip install -e .)")
    props = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))["properties"]
    experiment = props["experiments"]["additionalProperties"]["properties"]
    return experiment, props["generation"]["properties"], experiment["refiner"]["properties"]


def schema_default(section: str, key: str) -> Any:
    """The schema's ``default`` of ``key`` in ``section`` (``experiment`` or ``generation``)."""
    experiment, generation, _ = _schema_properties()
    return {"experiment": experiment, "generation": generation}[section][key]["default"]


LOCATIONS = tuple(_schema_properties()[0]["location"]["enum"])


@dataclass
class GenerationSettings:
    """Everything that decides an image besides the layout and the seed."""

    location: str = schema_default("experiment", "location")  # which test config: box | mask | point | scribble
    steps: int = schema_default("experiment", "steps")
    guidance_scale: float = schema_default("experiment", "guidance_scale")
    alpha: float = schema_default("experiment", "alpha")
    mis: float = schema_default("experiment", "mis")
    negative_prompt: str = schema_default("generation", "negative_prompt")
    batched: bool = True
    max_batch: int | None = schema_default("generation", "max_batch")
    refiner_strength: float = 0.0  # > 0: run the SDXL refiner cascade (inference.py's cascade_strength)
    # Not in the schema: Snakemake's validator writes a property's default with ``setdefault``, which fails on the
    # ``refiner: null`` the schema allows.
    refiner_steps: int = 20

    def __post_init__(self):
        if self.location not in LOCATIONS:
            raise ValueError(f"location must be one of {LOCATIONS}, got {self.location!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_values(self) -> dict[str, Any]:
        """The fields a config sets (all but :data:`NOT_FROM_CONFIG`): the generate rule's ``settings`` param."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_FROM_CONFIG}

    @classmethod
    def from_config(cls, experiment: Mapping[str, Any], generation: Mapping[str, Any],
                    name: str = "<experiment>") -> "GenerationSettings":
        """The settings of experiment ``name`` (config ``experiments.<name>``) under the ``generation`` section.

        A key the schema does not know is an :class:`InputError` naming it (a typo must fail, not run the default).
        """
        exp_props, gen_props, ref_props = _schema_properties()
        _check_keys(experiment, exp_props, f"experiments.{name}")
        _check_keys(generation, gen_props, "generation")
        refiner = experiment.get("refiner") or {}
        _check_keys(refiner, ref_props, f"experiments.{name}.refiner")

        default = cls()
        return cls(
            location=experiment.get("location", default.location),
            steps=int(experiment.get("steps", default.steps)),
            guidance_scale=float(experiment.get("guidance_scale", default.guidance_scale)),
            alpha=float(experiment.get("alpha", default.alpha)),
            mis=float(experiment.get("mis", default.mis)),
            negative_prompt=generation.get("negative_prompt", default.negative_prompt),
            max_batch=generation.get("max_batch", default.max_batch),
            refiner_strength=float(refiner.get("strength", default.refiner_strength)),  # no refiner: no cascade
            refiner_steps=int(refiner.get("steps", default.refiner_steps)),
        )


def _check_keys(section: Mapping[str, Any], known: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise InputError(None, f"unknown key {unknown[0]!r} in {where}", f"use one of {sorted(known)}",
                         f"{where}.{unknown[0]}")
