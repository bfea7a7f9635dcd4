"""The demo layouts shipped for ``instdiff generate`` (instdiff/assets/demos/): each is the original repository's
demo file, reads and validates as the command reads it, and is packaged."""

from __future__ import annotations

import fnmatch
import json
import tomllib

import pytest

from instdiff.core.errors import InputError
from instdiff.data.demo import SHIPPED_DEMOS, complete_from_masks, demo_path, read_demo, shipped_demos
from instdiff.generation.pipeline import prepare_layout
from tests.conftest import REPO, parity_fixtures

DEMOS = parity_fixtures().parent / "demos"


def test_demos_are_shipped():
    assert {"cat_dog_robin", "corgi_kitchen", "palm_point"} <= set(shipped_demos())


@pytest.mark.parametrize("name", shipped_demos())
def test_each_demo_loads_and_validates(name):
    path = demo_path(name)
    assert path == SHIPPED_DEMOS / f"{name}.json"
    raw = json.loads(path.read_text())
    assert raw == json.loads((DEMOS / f"demo_{name}.json").read_text())     # the original's file, unchanged
    layout = complete_from_masks(read_demo(path), seed=0)                 # what `instdiff generate` does with it
    assert layout.id == name and len(layout.instances) == len(raw["annos"])
    prepared, _ = prepare_layout(layout)
    assert prepared.instances and all(0 <= v <= 1 for inst in prepared.instances for v in inst.box)
    for inst, anno in zip(layout.instances, raw["annos"]):
        if anno.get("mask"):   # masks give the scribble and polygon the original samples from them
            assert inst.scribble is not None and inst.polygon is not None


def test_demo_path_takes_files_and_names_and_lists_the_demos(tmp_path):
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"caption": "a cat", "width": 512, "height": 512,
                               "annos": [{"bbox": [0, 0, 100, 100], "caption": "a cat"}]}))
    assert demo_path(own) == own
    with pytest.raises(InputError, match="corgi_kitchen") as err:
        demo_path("no_such_demo")
    assert err.value.field == "--layout"


def test_demos_are_package_data():
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["instdiff"]
    for name in shipped_demos():
        rel = f"assets/demos/{name}.json"
        assert any(fnmatch.fnmatch(rel, p) and p.count("/") == rel.count("/") for p in patterns), rel


def test_generate_takes_a_demo_name(tmp_path, capsys):
    from instdiff.cli import main

    # The layout resolves (the next check, the model folder, is what fails), and an unknown name lists the demos.
    assert main(["generate", "--layout", "eagle_left", "--out", str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    assert "model folder does not exist" in capsys.readouterr().err
    assert main(["generate", "--layout", "eagle", "--out", str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    assert "no such layout file or shipped demo" in capsys.readouterr().err
