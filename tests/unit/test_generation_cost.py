"""The generation-cost table reads the done files the generation stage writes (real shards of the tiny model)."""

from __future__ import annotations

import csv

import pytest

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_json
from instdiff.core.layout import Instance, Layout, write_layouts
from instdiff.generation.shard import ShardJob, finalize
from instdiff.report.cost import experiment_cost, write_cost_table

SETTINGS = {"location": "box", "steps": 2, "guidance_scale": 7.5, "alpha": 0.75, "mis": 0.5, "negative_prompt": ""}
LAYOUTS = [Layout(id=str(i), image_id=i, caption=f"a cat {i}", instances=[Instance("a cat", (0.1, 0.1, 0.6, 0.7))])
           for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """Three shards of the tiny InstanceDiffusion model, the last one rerun after its image existed (it generates
    nothing the second time), then the done file."""
    from tests.unit.tiny_stack import tiny_pipeline

    tmp = tmp_path_factory.mktemp("cost")
    pipe = tiny_pipeline(tmp / "tiny")
    layouts = tmp / "layouts.jsonl"
    write_layouts(layouts, LAYOUTS)
    out = tmp / "images"
    manifests = []
    for k in range(3):
        job = ShardJob(layouts, None, out, out / "shards" / f"{k}-of-3.json", "box", k, 3, 2024, SETTINGS)
        manifests.append(job.run(pipe))
    manifests[2] = ShardJob(layouts, None, out, out / "shards/2-of-3.json", "box", 2, 3, 2024, SETTINGS).run(pipe)
    finalize(layouts, [out / f"shards/{k}-of-3.json" for k in range(3)], out, out / "done.json", "box")
    return out / "done.json", manifests


def test_rate_is_the_generating_shards_seconds_over_their_images(done):
    path, manifests = done
    tp = [m["throughput"] for m in manifests]
    assert [t["n_generated"] for t in tp] == [1, 1, 0]  # the rerun shard reused its image
    row = experiment_cost(path, projected_images=5000)
    by_hand = (tp[0]["s_per_image"] + tp[1]["s_per_image"]) / 2
    assert row["generated"] == 2 and row["images"] == 3 and row["shards"] == 3
    assert row["s_per_image"] == pytest.approx(by_hand)
    assert row["images_per_s"] == pytest.approx(1 / by_hand)
    assert row["projected_device_hours"] == pytest.approx(by_hand * 5000 / 3600)
    assert row["device"] == "cpu" and row["precision"] == "fp32" and row["steps"] == 2


def test_table_files(done, tmp_path):
    path, _ = done
    csv_path, md_path = tmp_path / "cost.csv", tmp_path / "cost.md"
    rows = write_cost_table({"box": path}, 100, csv_path, md_path)
    with open(csv_path) as fh:
        (read,) = list(csv.DictReader(fh))
    assert read["experiment"] == "box" and float(read["s_per_image"]) == pytest.approx(rows[0]["s_per_image"])
    assert float(read["projected_device_hours"]) == pytest.approx(rows[0]["s_per_image"] * 100 / 3600)
    md = md_path.read_text()
    assert "| box | 3 | 2 | 3 | cpu | fp32 | 2 |" in md and "100 images" in md


def test_a_run_that_reused_every_image_has_no_rate(done, tmp_path):
    path, _ = done
    d = read_json(path)
    for s in d["shards"]:
        s["throughput"] = {"n_generated": 0, "images_per_s": None, "s_per_image": None, "device": None}
    write_json(tmp_path / "done.json", d)
    row = experiment_cost(tmp_path / "done.json", 5000)
    assert row["generated"] == 0 and row["s_per_image"] is None and row["projected_device_hours"] is None


def test_a_done_file_without_shards_is_one_clear_error(done, tmp_path):
    path, _ = done
    d = read_json(path)
    del d["shards"]
    write_json(tmp_path / "done.json", d)
    with pytest.raises(InputError, match="shards") as err:
        experiment_cost(tmp_path / "done.json", 5000)
    assert "done.json" in str(err.value) and "generate_done" in str(err.value)
