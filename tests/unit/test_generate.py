"""The generation stage: shard invariance, resume after a kill, done file, edge-case layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from instdiff.core.errors import InputError
from instdiff.core.io import read_json
from instdiff.generation.shard import ShardJob, finalize, image_seed, read_done, shard_groups, shard_indices
from instdiff.core.layout import Instance, Layout, write_layouts

SETTINGS = {"location": "box", "steps": 2, "guidance_scale": 7.5, "alpha": 0.75, "mis": 0.5,
            "negative_prompt": "lowres"}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from tests.unit.tiny_stack import tiny_pipeline

    return tiny_pipeline(tmp_path_factory.mktemp("tiny"))


def _layouts() -> list[Layout]:
    return [
        Layout(id="7", image_id=7, caption="a cat and a dog",
               instances=[Instance("a cat", (0.1, 0.1, 0.5, 0.6)), Instance("a dog", (0.5, 0.3, 0.9, 0.9))]),
        Layout(id="3", image_id=3, caption="an empty street", instances=[]),
        Layout(id="12", image_id=12, caption="a bus", instances=[Instance("a bus", (-0.2, 0.4, 0.7, 1.3))]),
        Layout(id="5", image_id=5, caption="a red ball", instances=[Instance("a red ball", (0.3, 0.3, 0.6, 0.6))]),
    ]


class Counting:
    """Wraps a pipeline; counts calls and can raise on the k-th call to simulate a killed job."""

    def __init__(self, pipe, kill_at: int | None = None):
        self.pipe, self.kill_at, self.ids = pipe, kill_at, []

    def __call__(self, layout, settings, seed):
        if self.kill_at is not None and len(self.ids) == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        self.ids.append(layout.id)
        return self.pipe(layout, settings, seed=seed)


def _run(tmp: Path, layouts: Path, k: int, n: int, pipeline, **kw):
    out = tmp / "images"
    return ShardJob(layouts, None, out, out / "shards" / f"{k}-of-{n}.json", "box", k, n, 2024, SETTINGS,
                    **kw).run(pipeline)


def test_shard_indices_partition():
    for n in (1, 2, 3, 7):
        parts = [shard_indices(10, k, n) for k in range(n)]
        assert sorted(i for p in parts for i in p) == list(range(10))
    with pytest.raises(ValueError):
        shard_indices(10, 3, 3)


def test_shard_groups_are_fixed_slices_of_the_canonical_order():
    for n_items, b in ((10, 1), (10, 3), (7, 8), (0, 2)):
        groups = {tuple(g) for k in range(3) for g in shard_groups(n_items, k, 3, b)}
        # The groups do not depend on the shard count: the same slices [gB, (g+1)B) for any n.
        assert groups == {tuple(g) for g in shard_groups(n_items, 0, 1, b)}
        assert sorted(i for g in groups for i in g) == list(range(n_items))
        assert all(list(g) == list(range(g[0], g[0] + len(g))) and g[0] % b == 0 for g in groups)
    assert [i for g in shard_groups(10, 1, 3, 1) for i in g] == shard_indices(10, 1, 3)
    assert shard_groups(10, 1, 2, 3) == [[3, 4, 5], [9]]


def test_one_shard_and_three_shards_give_identical_pngs(tmp_path, pipe):
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, layouts, 0, 1, pipe)
    manifests = [_run(b, layouts, k, 3, pipe) for k in range(3)]
    assert sorted(r["id"] for m in manifests for r in m["images"]) == ["12", "3", "5", "7"]
    for lay in _layouts():
        pa, pb = a / "images" / f"{lay.id}.png", b / "images" / f"{lay.id}.png"
        assert pa.read_bytes() == pb.read_bytes(), lay.id
    done_a = finalize(layouts, [a / "images/shards/0-of-1.json"], a / "images", a / "images/done.json", "box")
    done_b = finalize(layouts, [b / f"images/shards/{k}-of-3.json" for k in range(3)], b / "images",
                      b / "images/done.json", "box")
    assert done_a["images"] == done_b["images"]
    assert [r["id"] for r in done_a["images"]] == ["3", "5", "7", "12"]  # canonical order: image_id
    assert done_a["images"][0]["seed"] == image_seed(2024, "box", "3")
    assert [p.name for p in read_done(a / "images/done.json")] == ["3.png", "5.png", "7.png", "12.png"]
    # Documented edge cases are recorded: the clipped box and the empty layout.
    assert any("clipped" in n for n in done_a["notes"]["12"])
    assert any("no instances" in n for n in done_a["notes"]["3"])


def test_batched_groups_one_shard_and_three_shards_give_identical_pngs(tmp_path, pipe):
    """Groups of 2 layouts per UNet call: shard 2 of 3 gets no group, the others one each; same bytes as one shard."""
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    a, b = tmp_path / "a", tmp_path / "b"
    ma = _run(a, layouts, 0, 1, pipe, group_size=2)
    mb = [_run(b, layouts, k, 3, pipe, group_size=2) for k in range(3)]
    assert [[r["id"] for r in m["images"]] for m in mb] == [["3", "5"], ["7", "12"], []]
    assert ma["images"][0]["batch"]["group_size"] == 2
    for lay in _layouts():
        assert (a / f"images/{lay.id}.png").read_bytes() == (b / f"images/{lay.id}.png").read_bytes(), lay.id
    assert ma["throughput"]["n_generated"] == 4 and ma["throughput"]["s_per_image"] > 0


def test_resume_after_kill_regenerates_only_missing(tmp_path, pipe):
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    images = tmp_path / "images"
    killed = Counting(pipe, kill_at=2)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, layouts, 0, 1, killed)
    done_first = sorted(p.name for p in images.glob("*.png"))
    assert len(done_first) == 2
    assert not list(images.glob(".*tmp*")), "no temporary file left behind"
    assert not (images / "shards/0-of-1.json").exists(), "the final manifest is written only when complete"
    assert (images / "shards/0-of-1.partial.json").exists()
    before = {p: (images / p).read_bytes() for p in done_first}
    again = Counting(pipe)
    manifest = _run(tmp_path, layouts, 0, 1, again)
    assert sorted(again.ids) == sorted({"3", "5", "7", "12"} - {p[:-4] for p in done_first})
    assert {r["id"]: r["status"] for r in manifest["images"]} == {
        i: ("existing" if f"{i}.png" in done_first else "generated") for i in ("3", "5", "7", "12")}
    assert all((images / p).read_bytes() == b for p, b in before.items())
    assert not (images / "shards/0-of-1.partial.json").exists()
    # Nothing left to do: a third run generates nothing and does not need a model.
    third = Counting(pipe)
    _run(tmp_path, layouts, 0, 1, third)
    assert third.ids == []


def test_images_belong_to_the_code_that_made_them(tmp_path, pipe, monkeypatch):
    """A behavioural edit to a module generation imports regenerates; a comment or docstring edit does not.
    The code version is read from a copy of the package, edited as a developer would edit the real one."""
    import shutil

    from instdiff.core import code_version
    from instdiff.generation import image_records

    package = tmp_path / "pkg" / "instdiff"
    shutil.copytree(code_version.PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    monkeypatch.setattr(image_records, "module_code_version",
                        lambda module: code_version.module_code_version(module, package))
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[1:2])
    first = _run(tmp_path, layouts, 0, 1, Counting(pipe))
    version = first["images"][0]["code_version"]
    assert version == code_version.module_code_version("instdiff.generation.shard", package)
    assert {r["code_version"] for r in first["images"]} == {version}
    record = image_records.read_record(tmp_path / "images", first["images"][0]["id"])
    assert record["code_version"] == version

    sampler = package / "generation" / "sampler.py"
    sampler.write_text("# a comment about the sampler\n" + sampler.read_text().replace('"""', '"""Reworded. ', 1))
    same = Counting(pipe)
    assert _run(tmp_path, layouts, 0, 1, same)["images"][0]["code_version"] == version and same.ids == []

    sampler.write_text(sampler.read_text() + "\nBEHAVIOUR_CHANGED = True\n")
    changed = Counting(pipe)
    manifest = _run(tmp_path, layouts, 0, 1, changed)
    assert changed.ids == ["3"]
    assert {r["code_version"] for r in manifest["images"]} == {manifest["images"][0]["code_version"]} != {version}


def test_other_settings_regenerate_the_images_and_finalize_checks_images(tmp_path, pipe):
    """An edited experiment (here its seed, then its guidance) regenerates its images instead of failing; the same
    settings again reuse them."""
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[:1])
    first = _run(tmp_path, layouts, 0, 1, pipe)
    for seed, settings in ((2025, SETTINGS), (2025, {**SETTINGS, "guidance_scale": SETTINGS["guidance_scale"] + 1})):
        again = Counting(pipe)
        m = ShardJob(layouts, None, tmp_path / "images", tmp_path / "images/shards/0-of-1.json", "box", 0, 1, seed,
                     settings).run(again)
        assert again.ids == ["7"] and m["images"][0]["status"] == "generated"
        assert m["images"][0]["settings_sha256"] != first["images"][0]["settings_sha256"]
        assert read_json(tmp_path / "images/settings.json") == m["fingerprint"]
    same = Counting(pipe)
    ShardJob(layouts, None, tmp_path / "images", tmp_path / "images/shards/0-of-1.json", "box", 0, 1, 2025,
             settings).run(same)
    assert same.ids == []
    (tmp_path / "images/7.png").unlink()
    with pytest.raises(InputError, match="no image"):
        finalize(layouts, [tmp_path / "images/shards/0-of-1.json"], tmp_path / "images", tmp_path / "done.json", "box")


def test_records_from_before_settings_hashes_are_reused_under_the_same_settings(tmp_path, pipe):
    """Images of a folder whose settings.json equals the current settings were made with them (the folder refused
    others): their records gain the hash and the images are reused; under other settings they are generated again."""
    import json

    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[:2])
    _run(tmp_path, layouts, 0, 1, pipe)
    for record in (tmp_path / "images/records").glob("*.json"):
        old = json.loads(record.read_text())
        del old["settings_sha256"]
        record.write_text(json.dumps(old))
    same = Counting(pipe)
    _run(tmp_path, layouts, 0, 1, same)
    assert same.ids == []
    other = Counting(pipe)
    ShardJob(layouts, None, tmp_path / "images", tmp_path / "images/shards/0-of-1.json", "box", 0, 1, 2025,
             SETTINGS).run(other)
    assert sorted(other.ids) == ["3", "7"]


def test_jpeg75_option(tmp_path, pipe):
    from PIL import Image

    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[3:])
    m = _run(tmp_path, layouts, 0, 1, pipe, image_format="jpeg75")
    assert m["images"][0]["file"] == "5.jpg"
    with Image.open(tmp_path / "images/5.jpg") as im:
        assert im.format == "JPEG" and im.size == (512, 512)


@pytest.mark.slow
def test_shard_invariance_with_the_tiny_instancediffusion_model(tmp_path):
    """The same property on the converted tiny InstanceDiffusion model (slow on 2 CPU cores)."""
    from instdiff.model.config import ModelConfig
    from instdiff.model.convert import convert_checkpoint
    from instdiff.model.tiny import write_tiny_checkpoint
    from instdiff.generation.pipeline import InstanceDiffusionPipeline

    write_tiny_checkpoint(tmp_path / "ckpt.pth", tmp_path / "tokenizer")
    model = convert_checkpoint(tmp_path / "ckpt.pth", tmp_path / "tokenizer", tmp_path / "model",
                               config=ModelConfig.tiny())
    pipe = InstanceDiffusionPipeline.from_folder(model, "fp32", "cpu")
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[:3])
    _run(tmp_path / "a", layouts, 0, 1, pipe)
    for k in range(2):
        _run(tmp_path / "b", layouts, k, 2, pipe)
    for lay in _layouts()[:3]:
        assert (tmp_path / f"a/images/{lay.id}.png").read_bytes() == (tmp_path / f"b/images/{lay.id}.png").read_bytes()


def test_refiner_settings_come_from_the_experiment():
    from instdiff.generation.shard import refiner_from_config
    from instdiff.generation.pipeline import GenerationSettings

    exp = {"location": "box", "mis": 0.2, "alpha": 0.8, "refiner": {"model": "sdxl-refiner", "strength": 0.4}}
    settings = GenerationSettings.from_config(exp, {"negative_prompt": "low quality"}).config_values()
    assert GenerationSettings(**settings).refiner_strength == 0.4 and settings["refiner_steps"] == 20
    assert refiner_from_config(exp) == "sdxl-refiner"
    plain = GenerationSettings.from_config({"location": "mask"}, {}).config_values()
    assert plain["refiner_strength"] == 0.0 and refiner_from_config({"location": "mask"}) is None


# --------------------------------------------------------------------------------------------- the shard job


def _job(tmp_path: Path, **kw) -> ShardJob:
    args = {"layouts_path": tmp_path / "layouts.jsonl", "model_dir": None, "out_dir": tmp_path / "images",
            "manifest_path": tmp_path / "images/shards/0-of-1.json", "experiment": "box", "shard": 0, "nshards": 1,
            "run_seed": 2024, "settings": SETTINGS}
    return ShardJob(**(args | kw))


@pytest.mark.parametrize("kw, error, field", [
    ({"image_format": "webp"}, InputError, "generation.image_format"),
    ({"precision": "fp16"}, InputError, "precision"),
    ({"shard": 2, "nshards": 2}, ValueError, None),
    ({"nshards": 0}, ValueError, None),
    ({"group_size": 0}, ValueError, None),
])
def test_shard_job_refuses_bad_settings_before_touching_anything(tmp_path, kw, error, field):
    with pytest.raises(error) as err:
        _job(tmp_path, **kw)
    if field:
        assert err.value.field == field
    assert not (tmp_path / "images").exists()


def test_shard_job_settings_from_params_or_the_dataclass_are_the_same(tmp_path):
    from instdiff.generation.settings import GenerationSettings

    assert _job(tmp_path).settings == _job(tmp_path, settings=GenerationSettings(**SETTINGS)).settings
    with pytest.raises(TypeError):
        _job(tmp_path, settings={**SETTINGS, "locaton": "box"})


def test_prepare_plans_every_group_of_a_fresh_folder_and_writes_no_image(tmp_path):
    write_layouts(tmp_path / "layouts.jsonl", _layouts())
    plan = _job(tmp_path, shard=1, nshards=2, group_size=1).prepare()
    assert [lay.id for lay in plan.layouts] == ["3", "5", "7", "12"]  # canonical order (image_id)
    assert [[r["id"] for r in recs] for recs in plan.todo] == [["5"], ["12"]] and plan.n_todo == 2
    assert plan.records == [] and (tmp_path / "images/settings.json").is_file()
    assert not list((tmp_path / "images").glob("*.png"))
