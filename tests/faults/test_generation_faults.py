"""Generation faults: a kill -9 at random points, an edited layout, a changed model, a damaged image, a failed
refiner save, another thread count. Each test checks the outcome (regenerated or refused), that the resumed
bytes equal an uninterrupted run's, and that nothing half-written remains."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from instdiff.core.errors import InputError
from instdiff.generation.shard import ShardJob, finalize
from instdiff.generation.image_records import read_record
from instdiff.core.io import is_temp
from instdiff.core.layout import Instance, Layout, write_layouts

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"location": "box", "steps": 2, "guidance_scale": 7.5, "alpha": 1.0, "mis": 0.5,
            "negative_prompt": "lowres"}
THREADS = 1  # pinned in every run here, so the subprocess and this process compute the same bytes


def _layouts() -> list[Layout]:
    return [
        Layout(id="7", image_id=7, caption="a cat", instances=[Instance("a cat", (0.1, 0.1, 0.5, 0.6))]),
        Layout(id="3", image_id=3, caption="an empty street", instances=[]),
        Layout(id="5", image_id=5, caption="a red ball", instances=[Instance("a red ball", (0.3, 0.3, 0.6, 0.6))]),
    ]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from tests.unit.tiny_stack import tiny_pipeline

    before = torch.get_num_threads()
    yield tiny_pipeline(tmp_path_factory.mktemp("tiny"), seed=0)
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, pipe):
    """An uninterrupted run: the bytes every faulted run must end with."""
    tmp = tmp_path_factory.mktemp("reference")
    layouts = tmp / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    _run(tmp, layouts, pipe)
    return {p.name: p.read_bytes() for p in (tmp / "images").glob("*.png")}


class Recording:
    """Wraps a pipeline: records the ids it generates and torch's thread count while it does."""

    def __init__(self, pipe, refined: bool = False):
        self.pipe, self.refined, self.ids, self.threads = pipe, refined, [], []

    def __call__(self, layout, settings, seed):
        self.ids.append(layout.id)
        self.threads.append(torch.get_num_threads())
        if self.refined:  # a copy stands in for the refiner's output: these tests are about saving it
            out = self.pipe(layout, dataclasses.replace(settings, refiner_strength=0.0), seed=seed)
            out.refined = [im.copy() for im in out.images]
        else:
            out = self.pipe(layout, settings, seed=seed)
        return out


def _run(tmp: Path, layouts: Path, pipeline, k: int = 0, n: int = 1, threads: int = THREADS, **kw):
    out = tmp / "images"
    return ShardJob(layouts, kw.pop("model_dir", None), out, out / "shards" / f"{k}-of-{n}.json", "box", k, n, 2024,
                    {**SETTINGS, **kw.pop("settings", {})}, torch_threads=threads, **kw).run(pipeline)


def _finalize(tmp: Path, layouts: Path, n: int = 1):
    out = tmp / "images"
    return finalize(layouts, [out / "shards" / f"{k}-of-{n}.json" for k in range(n)], out, out / "done.json", "box")


def _leftovers(folder: Path) -> list[str]:
    """Temporary siblings of atomic writes (io.is_temp) and progress manifests of unfinished shards."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if is_temp(p) or "partial" in p.name)


def _pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.png")}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill9_at_a_random_point_resumes_byte_identically(tmp_path, pipe, reference, seed):
    rng = random.Random(seed)
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    out = tmp_path / "images"
    args = {"tiny_dir": str(tmp_path / "tiny"), "layouts_path": str(layouts), "model_dir": None,
            "out_dir": str(out), "manifest_path": str(out / "shards/0-of-1.json"), "experiment": "box", "shard": 0,
            "nshards": 1, "run_seed": 2024, "settings": SETTINGS, "torch_threads": THREADS,
            "ready": str(tmp_path / "ready")}
    (tmp_path / "args.json").write_text(json.dumps(args))
    proc = subprocess.Popen([sys.executable, "-m", "tests.faults.generation_worker", str(tmp_path / "args.json")],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    # A random point: after a random number of finished images (0 .. all but one), plus a random delay.
    wait_for = rng.randrange(len(_layouts()))
    while proc.poll() is None and (not (tmp_path / "ready").exists() or len(list(out.glob("*.png"))) < wait_for):
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 2.0))
    assert proc.poll() is None, "the worker finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_with = _pngs(out)

    again = Recording(pipe)
    manifest = _run(tmp_path, layouts, again)
    assert _pngs(out) == reference
    assert manifest["complete"] and manifest["n_images"] == 3
    assert {lay.id for lay in _layouts()} - {p[:-4] for p in killed_with} <= set(again.ids)
    assert _leftovers(out) == []
    assert len(_finalize(tmp_path, layouts)["images"]) == 3


def test_an_edited_layout_regenerates_its_image_and_an_old_manifest_is_refused(tmp_path, pipe, reference):
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    _run(tmp_path, layouts, pipe)
    old_manifest = (tmp_path / "images/shards/0-of-1.json").read_text()
    edited = _layouts()
    edited[2].instances[0] = Instance("a blue ball", (0.2, 0.3, 0.6, 0.7))
    write_layouts(layouts, edited)
    # Snakemake deletes the rule's output before a rerun; a manifest still there must not be accepted either.
    with pytest.raises(InputError, match="other versions of their layouts"):
        _finalize(tmp_path, layouts)

    again = Recording(pipe)
    manifest = _run(tmp_path, layouts, again)
    assert again.ids == ["5"]
    assert {r["id"]: r["status"] for r in manifest["images"]}["5"] == "generated"
    now = _pngs(tmp_path / "images")
    assert now["5.png"] != reference["5.png"] and {k: v for k, v in now.items() if k != "5.png"} == {
        k: v for k, v in reference.items() if k != "5.png"}
    assert _finalize(tmp_path, layouts)["n_images"] == 3
    (tmp_path / "images/shards/0-of-1.json").write_text(old_manifest)
    with pytest.raises(InputError, match="other versions of their layouts"):
        _finalize(tmp_path, layouts)


def test_a_changed_model_content_regenerates_every_image(tmp_path, pipe):
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[:2])
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    (model / "unet/weights.safetensors").write_bytes(b"weights v1")
    _run(tmp_path, layouts, pipe, model_dir=model)
    first = Recording(pipe)
    _run(tmp_path, layouts, first, model_dir=model)
    assert first.ids == []
    moved = tmp_path / "moved"
    model.rename(moved)  # the same content elsewhere is the same model
    _run(tmp_path, layouts, first, model_dir=moved)
    assert first.ids == []
    (moved / "unet/weights.safetensors").write_bytes(b"weights v2")
    second = Recording(pipe)
    manifest = _run(tmp_path, layouts, second, model_dir=moved)
    assert sorted(second.ids) == ["3", "7"]
    assert len({r["model_sha256"] for r in manifest["images"]}) == 1


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_a_damaged_image_is_regenerated_and_detection_names_it(tmp_path, pipe, reference, damage):
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    _run(tmp_path, layouts, pipe)
    done = _finalize(tmp_path, layouts)
    bad = tmp_path / "images/7.png"
    data = bad.read_bytes()
    bad.write_bytes({"truncate": data[: len(data) // 2], "empty": b"", "garbage": b"\x89PNG" + bytes(100)}[damage])

    from instdiff.detection.detect import experiment_images
    from instdiff.metrics.cocofiles import load_gt

    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps({
        "images": [{"id": int(i["id"]), "file_name": i["file"], "width": 512, "height": 512} for i in done["images"]],
        "annotations": [], "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}))
    with pytest.raises(InputError) as err:
        experiment_images(tmp_path / "images/done.json", load_gt(gt_path))
    assert "7.png" in str(err.value)
    with pytest.raises(InputError, match="7.png"):
        _finalize(tmp_path, layouts)

    again = Recording(pipe)
    _run(tmp_path, layouts, again)
    assert again.ids == ["7"]
    assert _pngs(tmp_path / "images") == reference
    assert _leftovers(tmp_path / "images") == []


def test_a_failed_refiner_save_is_regenerated_and_finalize_wants_every_refined_copy(tmp_path, pipe, monkeypatch):
    import instdiff.generation.shard as generate

    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[:2])
    refined_settings = {"refiner_strength": 0.3}
    real_save = generate.save_image

    def failing_save(image, path, image_format):
        if path.parent.name == "refined" and path.stem == "7":
            raise OSError(28, "No space left on device")
        real_save(image, path, image_format)

    monkeypatch.setattr(generate, "save_image", failing_save)
    with pytest.raises(OSError):
        _run(tmp_path, layouts, Recording(pipe, refined=True), settings=refined_settings)
    monkeypatch.setattr(generate, "save_image", real_save)
    assert read_record(tmp_path / "images", "7") is None, "no record for an image whose refined copy is missing"
    assert not (tmp_path / "images/shards/0-of-1.json").exists()

    again = Recording(pipe, refined=True)
    _run(tmp_path, layouts, again, settings=refined_settings)
    assert "7" in again.ids
    assert sorted(p.name for p in (tmp_path / "images/refined").glob("*.png")) == ["3.png", "7.png"]
    assert _leftovers(tmp_path / "images") == []
    assert _finalize(tmp_path, layouts)["n_images"] == 2

    (tmp_path / "images/refined/3.png").unlink()
    with pytest.raises(InputError, match="refined"):
        _finalize(tmp_path, layouts)
    third = Recording(pipe, refined=True)
    _run(tmp_path, layouts, third, settings=refined_settings)
    assert third.ids == ["3"]


def test_thread_count_is_pinned_and_another_count_regenerates(tmp_path, pipe):
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts()[1:2])
    torch.set_num_threads(2)  # what Snakemake's --cores would have given the job
    first = Recording(pipe)
    m1 = _run(tmp_path, layouts, first, threads=1)
    assert first.threads == [1] and m1["images"][0]["torch_threads"] == 1
    same = Recording(pipe)
    _run(tmp_path, layouts, same, threads=1)
    assert same.ids == []
    other = Recording(pipe)
    m2 = _run(tmp_path, layouts, other, threads=2)
    assert other.ids == ["3"] and other.threads == [2] and m2["images"][0]["torch_threads"] == 2


@pytest.mark.parametrize("record", [b"\x89PNG\r\n\xff\xfe\x00binary", b"[]", b'"a text"'],
                         ids=["binary", "list", "text"])
def test_an_unreadable_image_record_regenerates_its_image(tmp_path, pipe, reference, record):
    """Issue 24 item 4: a record that is not an object (binary bytes, ``[]``) regenerates its image, not the shard's
    end; the other images are reused and the result equals an uninterrupted run."""
    from instdiff.generation.image_records import record_path

    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    _run(tmp_path, layouts, pipe)
    record_path(tmp_path / "images", "7").write_bytes(record)
    again = Recording(pipe)
    _run(tmp_path, layouts, again)
    assert again.ids == ["7"]
    assert read_record(tmp_path / "images", "7")["id"] == "7"
    assert _pngs(tmp_path / "images") == reference
    _finalize(tmp_path, layouts)
    assert _leftovers(tmp_path / "images") == []


def test_a_truncated_image_names_the_command_that_regenerates_it(tmp_path, pipe):
    """Issue 24 item 8: the fix text names the Snakemake command (``-R generate`` on the experiment's done.json),
    from detection, from FID and from generate_done."""
    from instdiff.detection.detect import experiment_images
    from instdiff.metrics.cocofiles import load_gt
    from instdiff.metrics.fid import load_uint8

    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    _run(tmp_path, layouts, pipe)
    done = _finalize(tmp_path, layouts)
    bad = tmp_path / "images/7.png"
    bad.write_bytes(bad.read_bytes()[:200])
    command = f"snakemake --cores all -R generate -- {tmp_path / 'images' / 'done.json'}"
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps({
        "images": [{"id": int(i["id"]), "file_name": i["file"], "width": 512, "height": 512} for i in done["images"]],
        "annotations": [], "categories": [{"id": 1, "name": "person"}]}))
    with pytest.raises(InputError) as err:
        experiment_images(tmp_path / "images/done.json", load_gt(gt_path))
    assert f"Fix: delete {bad} and regenerate it: `{command}`" in str(err.value)
    with pytest.raises(InputError) as err:
        load_uint8(bad, 512)
    assert command in str(err.value)
    with pytest.raises(InputError) as err:
        _finalize(tmp_path, layouts)
    assert command in str(err.value)


def test_generate_done_removes_what_killed_settings_writes_left(tmp_path, pipe):
    """Issue 24 item 6: shards write settings.json side by side, so its temporaries of a killed write go when
    generate_done (after every shard) runs; a neighbour's temporary is kept."""
    layouts = tmp_path / "layouts.jsonl"
    write_layouts(layouts, _layouts())
    _run(tmp_path, layouts, pipe)
    out = tmp_path / "images"
    stale = [out / ".settings.k2j3h4x9.tmp.json", out / ".settings.a_b_c_d_.tmp.json"]
    for p in stale:
        p.write_text("{")
    neighbour = out / ".settings.old.q1w2e3r4.tmp.json"  # the temp of another file, settings.old.json
    neighbour.write_text("{")
    _finalize(tmp_path, layouts)
    assert not any(p.exists() for p in stale) and neighbour.exists()
