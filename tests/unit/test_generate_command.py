"""``instdiff generate`` end to end on the tiny InstanceDiffusion model (original-format checkpoint, converted)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from instdiff.cli import main
from tests.conftest import parity_fixtures

DEMOS = parity_fixtures().parent / "demos"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from instdiff.model.config import ModelConfig
    from instdiff.model.convert import convert_checkpoint
    from instdiff.model.tiny import write_tiny_checkpoint

    d = tmp_path_factory.mktemp("tiny_model")
    write_tiny_checkpoint(d / "ckpt.pth", d / "tokenizer")
    return convert_checkpoint(d / "ckpt.pth", d / "tokenizer", d / "model", config=ModelConfig.tiny())


def test_generate_command_on_a_demo_with_masks(tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["generate", "--layout", str(DEMOS / "demo_corgi_kitchen.json"), "--out", str(out),
               "--model", str(tiny_model), "--steps", "2", "--mis", "0", "--alpha", "0.5", "--config", "mask"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_instances"] == 13 and result["settings"]["location"] == "mask"
    assert any("clipped" in n for n in result["notes"])  # the kitchen counter box runs past the right edge
    (image,) = result["images"]
    with Image.open(image) as im:
        assert im.size == (512, 512) and im.mode == "RGB"
    with Image.open(result["preview"]) as im:
        assert im.size == (512, 512)


def test_generate_command_reports_a_missing_model(tmp_path, capsys):
    rc = main(["generate", "--layout", str(DEMOS / "demo_eagle_left.json"), "--out", str(tmp_path),
               "--model", str(tmp_path / "nope")])
    assert rc == 2
    assert "--model" in capsys.readouterr().err
