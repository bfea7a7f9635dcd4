"""GenerationSettings: its defaults are the config schema's, and from_config refuses a key the schema lacks."""

import dataclasses

import pytest
import yaml

from instdiff.core.errors import InputError
from instdiff.generation.settings import SCHEMA_PATH, GenerationSettings

# (field, schema section, key) of every default the schema writes.
SCHEMA_FIELDS = [
    ("location", "experiment", "location"),
    ("steps", "experiment", "steps"),
    ("guidance_scale", "experiment", "guidance_scale"),
    ("alpha", "experiment", "alpha"),
    ("mis", "experiment", "mis"),
    ("negative_prompt", "generation", "negative_prompt"),
    ("max_batch", "generation", "max_batch"),
]


def _schema_defaults() -> dict[str, object]:
    props = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]
    sections = {"experiment": props["experiments"]["additionalProperties"]["properties"],
                "generation": props["generation"]["properties"]}
    return {name: sections[sec][key]["default"] for name, sec, key in SCHEMA_FIELDS}


def test_dataclass_and_from_config_defaults_are_the_schemas():
    expected = _schema_defaults()
    plain = GenerationSettings()
    empty = GenerationSettings.from_config({}, {})
    for name, value in expected.items():
        assert getattr(plain, name) == value, name
        assert getattr(empty, name) == value, name
    assert empty.negative_prompt == ""  # the schema's, not inference.py's string (the library default that went)
    assert empty.refiner_strength == 0.0 and empty.refiner_steps == 20


def test_from_config_takes_what_the_config_sets():
    exp = {"kind": "generated", "metrics": [], "location": "point", "steps": 4, "guidance_scale": 5, "alpha": 0.8,
           "mis": 0.2, "refiner": {"model": "m", "strength": 0.4, "steps": 7}}
    got = GenerationSettings.from_config(exp, {"negative_prompt": "lowres", "max_batch": 3, "threads": 2})
    assert got == GenerationSettings(location="point", steps=4, guidance_scale=5.0, alpha=0.8, mis=0.2,
                                     negative_prompt="lowres", max_batch=3, refiner_strength=0.4, refiner_steps=7)
    assert isinstance(got.guidance_scale, float) and isinstance(got.steps, int)
    assert "batched" not in got.config_values()
    assert set(got.config_values()) == {f.name for f in dataclasses.fields(GenerationSettings)} - {"batched"}


@pytest.mark.parametrize("experiment, generation, field", [
    ({"locaton": "box"}, {}, "experiments.box.locaton"),
    ({}, {"negative_promt": "x"}, "generation.negative_promt"),
    ({"refiner": {"model": "m", "strength": 0.4, "step": 3}}, {}, "experiments.box.refiner.step"),
])
def test_an_unknown_key_is_an_input_error_naming_the_field(experiment, generation, field):
    with pytest.raises(InputError) as err:
        GenerationSettings.from_config(experiment, generation, name="box")
    assert err.value.field == field
    assert field.rsplit(".", 1)[1] in str(err.value)


def test_an_unknown_location_is_refused():
    with pytest.raises(ValueError, match="location"):
        GenerationSettings.from_config({"location": "polygon"}, {})
