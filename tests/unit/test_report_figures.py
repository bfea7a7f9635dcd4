import json

import pytest

from instdiff.report import figures as FG
from tests.report_helpers import smoke_metrics, write_images, write_layouts, write_metric

PAPER = FG.Path(__file__).resolve().parents[2] / "config" / "paper_results.yaml"
CONFIG = {"experiments": {e: {"kind": "generated", "metrics": []} for e in ("box", "mask", "point", "scribble", "colors", "textures")}}


def _ok(paths):
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


def test_every_figure_from_hand_made_metric_files(tmp_path):
    m = tmp_path / "metrics"
    smoke_metrics(m)
    write_metric(m, "box", "fid", {"fid": 20.0, "fid_jpeg75": 21.0, "kid_mean": 0.01, "kid_std": 0.0})
    outs = {n: (tmp_path / f"{n}.png", tmp_path / f"{n}.pdf") for n in ("metrics", "cat", "pim", "fid")}
    FG.metrics_vs_paper(CONFIG, m, PAPER, outs["metrics"])
    FG.per_category_ap([m / "box" / "coco_bbox.json", m / "box" / "coco_segm.json"], outs["cat"])
    FG.pim_distributions([m / "point" / "pim_point_paper.json", m / "point" / "pim_point_corrected.json"], outs["pim"], PAPER)
    FG.fid_vs_format([m / "box" / "fid.json", m / "mask" / "fid.json"], outs["fid"])
    for paths in outs.values():
        _ok(paths)


def test_figures_with_missing_inputs_still_say_what_to_run(tmp_path):
    outs = (tmp_path / "a.png", tmp_path / "a.pdf")
    FG.fid_vs_format([tmp_path / "box" / "fid.json"], outs)
    FG.per_category_ap([], outs)
    FG.pim_distributions([tmp_path / "point" / "pim_point_paper.json"], outs)
    FG.metrics_vs_paper(CONFIG, tmp_path, PAPER, outs)
    _ok(outs)


def test_per_category_accepts_list_and_mapping():
    assert FG._per_category({"per_category": [{"id": 1, "name": "person", "ap": 0.5}, {"id": 2, "name": "x", "ap": -1}]}) == [("person", 0.5)]
    assert FG._per_category({"per_category": {"car": 0.25, "bus": None}}) == [("car", 0.25)]
    assert FG._per_category({}) == []


def test_sampler_is_seeded_and_independent_of_order():
    ids = [str(i) for i in range(50)]
    a = FG.sample_ids(ids, 4, 2024, "box")
    assert a == FG.sample_ids(list(reversed(ids)), 4, 2024, "box") and len(set(a)) == 4
    assert a != FG.sample_ids(ids, 4, 2024, "mask") or a != FG.sample_ids(ids, 4, 7, "box")
    assert FG.sample_ids(ids[:3], 4, 1, "box") == sorted(ids[:3])


def test_qualitative_grid(tmp_path):
    ids = [1, 2, 3, 4, 5]
    gen = write_images(tmp_path / "gen", "box", ids, size=64)
    real = write_images(tmp_path / "real", "real", ids, size=64, seed=3)
    write_layouts(tmp_path / "box.jsonl", ids)
    outs = (tmp_path / "q.png", tmp_path / "q.pdf")
    chosen = FG.qualitative_grid(tmp_path / "box.jsonl", gen, real, outs, "box", 2024, k=2)
    assert len(chosen) == 2 and chosen == FG.sample_ids([str(i) for i in ids], 2, 2024, "box")
    _ok(outs)
