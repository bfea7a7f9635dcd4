"""The smoke's InstanceDiffusion went the release's way: the tiny checkpoint is the release container, and the
converter took the UNet from ``ema`` and read transformers-4.27 text names (issue 10)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.workflow

SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
RELEASE_SECTIONS = {"model", "ema", "text_encoder", "autoencoder", "diffusion", "opt", "scheduler", "iters", "config_dict"}


def test_smoke_model_went_through_the_release_container(smoke_run):
    from instdiff.model.release_container import load_container

    models = smoke_run / "results" / SMOKE["run"] / "models"
    assert set(load_container(models / "tiny" / "instancediffusion_tiny.pth")) == RELEASE_SECTIONS
    record = json.loads((models / "instancediffusion" / "instdiff_model.json").read_text())
    assert record["unet_section"] == "ema" and record["text_encoder_naming"] == "transformers-4.27"
    assert "model.params.model_channels" in record["config_dict_checked"]
