"""GLIGEN as a second generator: the pinned diffusers pipeline, the tiny stand-in in diffusers' format, the shard
runner's images (shard-invariant, on InstanceDiffusion's seeds) and the config checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.core.layout import Instance, Layout, write_layouts
from instdiff.core.seeding import derive_seed
from instdiff.generation.generators import GENERATORS, check_experiment, model_experiments
from instdiff.generation.settings import GenerationSettings
from instdiff.generation.shard import ShardJob, finalize
from tests.conftest import REPO

SETTINGS = {"location": "box", "steps": 2, "guidance_scale": 7.5, "alpha": 0.5, "mis": 0.0,
            "negative_prompt": "lowres"}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from instdiff.model.tiny_gligen import write_tiny_gligen

    return write_tiny_gligen(tmp_path_factory.mktemp("gligen") / "gligen", seed=3)


@pytest.fixture(scope="module")
def generator(tiny_folder):
    from instdiff.generation.generators import load_generator

    torch.set_num_threads(1)
    return load_generator("gligen", tiny_folder, precision="fp32", device="cpu")


def _layouts() -> list[Layout]:
    return [
        Layout(id="7", image_id=7, caption="a cat and a dog",
               instances=[Instance("a cat", (0.1, 0.1, 0.5, 0.6)), Instance("a dog", (0.5, 0.3, 0.9, 0.9))]),
        Layout(id="3", image_id=3, caption="an empty street", instances=[]),
        Layout(id="12", image_id=12, caption="a bus", instances=[Instance("a bus", (-0.2, 0.4, 0.7, 1.3))]),
    ]


def test_pinned_diffusers_exposes_the_gligen_pipeline():
    import diffusers

    pins = {name: version for name, version in re.findall(r"^([\w-]+)==(\S+)", (REPO / "requirements.txt").read_text(),
                                                            re.M)}
    assert diffusers.__version__ == pins["diffusers"], "the venv's diffusers is not the pinned one"
    from instdiff.model.gligen_class import gligen_pipeline_class

    cls = gligen_pipeline_class()
    assert cls.__name__ == "StableDiffusionGLIGENPipeline"
    # Moved to pipelines/deprecated/ (diffusers 0.34+): still the one with the scheduled-sampling argument we pass.
    import inspect

    assert inspect.signature(cls.__call__).parameters["gligen_scheduled_sampling_beta"].default == 0.3


def test_tiny_gligen_round_trips_through_save_and_from_pretrained(tiny_folder, generator):
    import json

    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

    from instdiff.model.tiny_gligen import build_tiny_gligen

    index = json.loads((tiny_folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionGLIGENPipeline"
    assert index["safety_checker"] == [None, None]
    unet = generator.pipe.unet
    assert unet.config.attention_type == "gated"
    assert isinstance(unet.position_net, GLIGENTextBoundingboxProjection)
    gates = {n: p for n, p in unet.named_parameters() if n.endswith(("fuser.alpha_attn", "fuser.alpha_dense"))}
    assert gates and all(float(p.detach()) == 0.5 for p in gates.values())  # open: grounding changes the image
    built = build_tiny_gligen(seed=3)
    for name in ("unet", "vae", "text_encoder"):
        saved, fresh = getattr(generator.pipe, name).state_dict(), getattr(built, name).state_dict()
        assert saved.keys() == fresh.keys()
        assert all(torch.equal(saved[k], fresh[k]) for k in fresh), name
    assert type(generator.pipe.scheduler).__name__ == "DDIMScheduler"


def test_gligen_starts_from_instancediffusions_noise_and_follows_the_boxes(generator):
    settings = GenerationSettings(**SETTINGS)
    x_t = torch.randn((1, 4, 64, 64), generator=torch.Generator("cpu").manual_seed(11))  # InstanceDiffusion's x_T
    assert torch.equal(generator.prepare_latents(11), x_t)
    lay = _layouts()[0]
    first = np.asarray(generator(lay, settings, seed=11).images[0])
    assert first.shape == (512, 512, 3)
    assert np.array_equal(first, np.asarray(generator(lay, settings, seed=11).images[0]))
    moved = Layout(id="7", image_id=7, caption=lay.caption,
                   instances=[Instance("a cat", (0.5, 0.5, 0.9, 0.9)), Instance("a dog", (0.0, 0.0, 0.3, 0.3))])
    assert not np.array_equal(first, np.asarray(generator(moved, settings, seed=11).images[0]))


def _run(root: Path, layouts: Path, k: int, n: int, pipeline=None, model_dir=None):
    out = root / "images"
    return ShardJob(layouts, model_dir, out, out / "shards" / f"{k}-of-{n}.json", "gligen_box", k, n, 2024,
                    SETTINGS, group_size=2, model="gligen", seed_experiment="box").run(pipeline)


def test_shard_runner_gligen_images_do_not_depend_on_the_shard_count(tmp_path, tiny_folder, generator):
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    # One shard loads the generator itself from the folder (the rule's path); two shards reuse the loaded one.
    one = _run(tmp_path / "one", layouts, 0, 1, model_dir=tiny_folder)
    two = [_run(tmp_path / "two", layouts, k, 2, generator, model_dir=tiny_folder) for k in range(2)]
    assert one["fingerprint"]["model"] == "gligen" and one["fingerprint"]["seed_experiment"] == "box"
    seeds = {r["id"]: r["seed"] for r in one["images"]}
    assert seeds == {lay.id: derive_seed(2024, "box", lay.id) for lay in _layouts()}  # box's seeds
    assert sorted(r["id"] for m in two for r in m["images"]) == sorted(seeds)
    for lay in _layouts():
        a = np.asarray(Image.open(tmp_path / "one" / "images" / f"{lay.id}.png"))
        b = np.asarray(Image.open(tmp_path / "two" / "images" / f"{lay.id}.png"))
        assert np.array_equal(a, b), lay.id
    done = finalize(layouts, [tmp_path / "two" / "images" / "shards" / f"{k}-of-2.json" for k in range(2)],
                    tmp_path / "two" / "images", tmp_path / "two" / "images" / "done.json", "gligen_box")
    assert done["n_images"] == 3 and done["fingerprint"]["model"] == "gligen"


def _experiment(**kw):
    return {"kind": "generated", "model": "gligen", "location": "box", "mis": 0, "alpha": 0.3, "metrics": [], **kw}


@pytest.mark.parametrize("location", ["mask", "point", "scribble"])
def test_gligen_on_a_non_box_experiment_is_a_config_error_naming_the_key(location):
    with pytest.raises(InputError) as err:
        check_experiment("masks_gligen", _experiment(location=location), "config/x.yaml")
    assert err.value.field == "experiments.masks_gligen.model"
    assert "config/x.yaml" in str(err.value) and location in str(err.value) and "box" in str(err.value)


def test_gligen_config_checks_name_mis_and_refiner():
    assert check_experiment("gligen_box", _experiment()) == "gligen"
    assert check_experiment("box", {"kind": "generated", "location": "mask"}) == "instancediffusion"
    with pytest.raises(InputError) as err:
        check_experiment("g", _experiment(mis=0.36))
    assert err.value.field == "experiments.g.mis"
    with pytest.raises(InputError) as err:
        check_experiment("g", {k: v for k, v in _experiment().items() if k != "mis"})  # the schema would fill 0.36
    assert err.value.field == "experiments.g.mis"
    with pytest.raises(InputError) as err:
        check_experiment("g", _experiment(refiner={"model": "x/y", "strength": 0.4}))
    assert err.value.field == "experiments.g.refiner"
    assert check_experiment("real", {"kind": "real", "metrics": []}) is None
    with pytest.raises(InputError) as err:
        check_experiment("real", {"kind": "real", "model": "gligen", "metrics": []})
    assert err.value.field == "experiments.real.model"


def test_both_configs_run_gligen_on_boxes_with_the_box_experiments_settings():
    import yaml

    for name in ("config.yaml", "smoke.yaml"):
        config = yaml.safe_load((REPO / "config" / name).read_text())
        assert model_experiments(config, "gligen") == ["gligen_box"], name
        exp, box = config["experiments"]["gligen_box"], config["experiments"]["box"]
        assert check_experiment("gligen_box", exp) == "gligen"
        assert exp["source"] == "box" and exp["alpha"] == 0.3
        assert {k: exp[k] for k in ("steps", "guidance_scale", "use_captions")} == {
            k: box[k] for k in ("steps", "guidance_scale", "use_captions")}
        assert "coco_bbox" in exp["metrics"]  # the smoke leaves GLIGEN's FID to the paper config (box's FID code)
    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert set(paper["experiments"]["gligen_box"]["metrics"]) == set(paper["experiments"]["box"]["metrics"])
    assert "shards" not in paper["experiments"]["gligen_box"]  # sharded like box: generation.shards
    assert paper["models"]["gligen"]["repo"] == "masterful/gligen-1-4-generation-text-box"
    assert GENERATORS["gligen"].paper_method in yaml.safe_load((REPO / "config" / "paper_results.yaml").read_text())[
        "methods"]
