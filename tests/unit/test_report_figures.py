
import pytest

from instdiff.report import figures as FG
from tests.report_helpers import real_inputs, smoke_metrics, write_images, write_layouts

PAPER = FG.Path(__file__).resolve().parents[2] / "config" / "paper_results.yaml"
CONFIG = {"experiments": {e: {"kind": "generated", "metrics": []} for e in ("box", "mask", "point", "scribble", "colors", "textures")}}


def _ok(paths):
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    """COCO, PiM and FID files made by their real writers from small real inputs."""
    inputs = real_inputs(tmp_path_factory.mktemp("inputs"))
    root = tmp_path_factory.mktemp("metrics")
    smoke_metrics(root, inputs, fid=True)
    return root


def test_every_figure_from_the_writers_files(tmp_path, metrics):
    m = metrics
    outs = {n: (tmp_path / f"{n}.png", tmp_path / f"{n}.pdf") for n in ("metrics", "cat", "pim", "fid")}
    FG.metrics_vs_paper(CONFIG, m, PAPER, outs["metrics"])
    FG.per_category_ap([m / "box" / "coco_bbox.json", m / "box" / "coco_segm.json"], outs["cat"])
    FG.pim_distributions([m / "point" / "pim_point_paper.json", m / "point" / "pim_point_corrected.json"], outs["pim"], PAPER)
    FG.fid_vs_format([m / "box" / "fid.json", m / "mask" / "fid.json"], outs["fid"])
    for paths in outs.values():
        _ok(paths)


def test_pim_and_per_category_figures_find_the_writers_data(metrics):
    """What the figures read is what the writers wrote (the `mean`/`pim` and missing per_category bugs)."""
    rec = FG.read_metric_file(metrics / "point" / "pim_point_paper.json")
    assert len(FG.per_image_values(rec.per_image, "pim")) == rec.values["n_images"] > 0
    cats = FG._per_category(FG.read_metric_file(metrics / "box" / "coco_bbox.json"))
    assert [n for n, _ in cats] == ["person"]   # "dog" has no GT: null, left out


def test_figures_with_missing_inputs_still_say_what_to_run(tmp_path):
    outs = (tmp_path / "a.png", tmp_path / "a.pdf")
    FG.fid_vs_format([tmp_path / "box" / "fid.json"], outs)
    FG.per_category_ap([], outs)
    FG.pim_distributions([tmp_path / "point" / "pim_point_paper.json"], outs)
    FG.metrics_vs_paper(CONFIG, tmp_path, PAPER, outs)
    _ok(outs)


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
