
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
    FG.delta_forest(CONFIG, m, PAPER, outs["metrics"], banner="Test run")
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
    FG.delta_forest(CONFIG, tmp_path, PAPER, outs)
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


def _size(png):
    from PIL import Image

    with Image.open(png) as im:
        return im.size


def test_forest_plot_shows_the_tables_deltas_one_axis_per_unit(tmp_path):
    """Every Δ the tables print and no other (none on FID or flagged cells), on one axis per unit."""
    from tests.report_helpers import tiny_encoder

    inputs = real_inputs(tmp_path / "inputs")
    m = tmp_path / "metrics"
    smoke_metrics(m, inputs, tiny_encoder(inputs["root"]), fid=True)
    config = {"experiments": {e: {"kind": "generated", "metrics": ms} for e, ms in (
        ("box", ["coco_bbox", "fid"]), ("mask", ["coco_segm"]), ("point", ["pim_point"]),
        ("colors", ["attribute"]), ("textures", ["attribute"]))} | {"real": {"kind": "real", "metrics": ["coco_bbox"]}}}
    outs = (tmp_path / "f.png", tmp_path / "f.pdf")
    points = FG.delta_forest(config, m, PAPER, outs)
    _ok(outs)
    assert {p["unit"] for p in points} == {"percentage points", "CLIP_local cosine"}
    assert not [p for p in points if p["measure"].endswith(".fid")]
    assert {(p["measure"], p["reference"]) for p in points} >= {("box.ap", "InstanceDiffusion (paper)"),
                                                                ("box.ap", "Upper bound (paper)"),
                                                                ("colors.clip_local", "InstanceDiffusion (paper)")}
    box = next(p for p in points if p["measure"] == "box.ap" and p["reference"] == "InstanceDiffusion (paper)")
    ap = 100 * FG.read_metric_file(m / "box" / "coco_bbox.json").values["ap"]
    assert box["value"] == pytest.approx(ap - 38.8)
    w, h = _size(outs[0])
    assert w <= 3.5 * h


def test_grids_are_no_wider_than_three_and_a_half_heights(tmp_path, metrics):
    import shutil

    coco, pims = [], []
    for i in range(10):
        (tmp_path / f"e{i}").mkdir()
        coco.append(shutil.copy(metrics / "box" / "coco_bbox.json", tmp_path / f"e{i}" / "coco_bbox.json"))
        pims.append(shutil.copy(metrics / "point" / "pim_point_paper.json", tmp_path / f"e{i}" / "pim_point_paper.json"))
    FG.per_category_ap(coco, (tmp_path / "c.png", tmp_path / "c.pdf"))
    FG.pim_distributions(pims, (tmp_path / "p.png", tmp_path / "p.pdf"), PAPER)
    for png in ("c.png", "p.png"):
        w, h = _size(tmp_path / png)
        assert w <= 3.5 * h, (png, w, h)


def test_the_papers_pim_line_only_on_panels_of_the_papers_protocol(metrics):
    files = [metrics / e / f"pim_point_{v}.json" for e in ("point", "real") for v in ("paper", "corrected")]
    with_paper = FG.pim_distributions(files, (metrics.parent / "p.png", metrics.parent / "p.pdf"), PAPER,
                                      generated=["point"])
    assert with_paper == ["point/pim_point_paper"]


def test_qualitative_grid_has_no_real_column_when_no_layout_has_a_real_image(tmp_path):
    ids = [1, 2, 3]
    gen = write_images(tmp_path / "gen", "llm", ids, size=64)
    real = write_images(tmp_path / "real", "real", [7, 8], size=64, seed=3)   # other ids: the LLM's scenes
    write_layouts(tmp_path / "llm.jsonl", ids)
    FG.qualitative_grid(tmp_path / "llm.jsonl", gen, real, (tmp_path / "a.png", tmp_path / "a.pdf"), "llm", 1, k=2)
    real = write_images(tmp_path / "real2", "real", ids, size=64, seed=3)
    FG.qualitative_grid(tmp_path / "llm.jsonl", gen, real, (tmp_path / "b.png", tmp_path / "b.pdf"), "llm", 1, k=2)
    (wa, ha), (wb, hb) = _size(tmp_path / "a.png"), _size(tmp_path / "b.png")
    assert wa < 0.8 * wb and abs(ha - hb) < 0.1 * hb       # two columns, not three


def test_each_figure_is_drawn_once_per_format_plus_one_measuring_pass(tmp_path, monkeypatch):
    """savefig(bbox_inches="tight") after tight_layout lays out and draws every format twice; the figures job drew
    48 times for 24 files. The box is measured once and handed to both formats, and the output is still cropped to
    it (the banner wider than the figure stays whole)."""
    from matplotlib.figure import Figure

    draws = []
    real_draw = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or real_draw(self, renderer))
    plt = FG._mpl()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    FG.stamp(fig, "a banner " * 12)
    fig.tight_layout()
    fig.savefig(tmp_path / "tight.png", dpi=FG.DPI, bbox_inches="tight")
    draws.clear()
    outs = (tmp_path / "a.png", tmp_path / "a.pdf")
    FG.save_figure(fig, outs)
    _ok(outs)
    assert len(draws) == 3
    assert _size(outs[0]) == _size(tmp_path / "tight.png")     # matplotlib's own tight crop, pixel for pixel


def test_layout_panel_draws_no_image(tmp_path):
    """The layout column is vector outlines on the axes' white face: no w x h white image to resample and embed."""
    ids = [1, 2]
    gen = write_images(tmp_path / "gen", "box", ids, size=64)
    write_layouts(tmp_path / "box.jsonl", ids)
    plt = FG._mpl()
    from instdiff.core.layout import read_layouts

    layout = read_layouts(tmp_path / "box.jsonl")[0]
    fig, ax = plt.subplots()
    FG._draw_layout(ax, layout)
    assert len(ax.images) == 0 and ax.get_xlim() == (-0.5, layout.width - 0.5) and ax.get_ylim() == (layout.height - 0.5, -0.5)
    assert len(ax.collections) == 1 and len(ax.patches) == 0
    plt.close(fig)
    FG.qualitative_grid(tmp_path / "box.jsonl", gen, None, (tmp_path / "q.png", tmp_path / "q.pdf"), "box", 1, k=2)


def _fail(path):
    raise FG.InputError(path, "no generated image has a layout of the same id", "regenerate", "images")


def test_figures_draw_in_parallel_processes_and_errors_keep_their_type(tmp_path):
    """draw_all runs the figure calls in forked workers (the figures job's threads), returns their results in order,
    and an InputError raised in a worker reaches the job as an InputError with its file, field and fix."""
    import os

    calls = [(os.getpid, (), {}) for _ in range(4)]
    pids = FG.draw_all(calls, workers=2)
    assert len(pids) == 4 and os.getpid() not in pids
    assert FG.draw_all(calls[:2], workers=1) == [os.getpid()] * 2
    with pytest.raises(FG.InputError) as err:
        FG.draw_all([(_fail, (tmp_path / "done.json",), {}), (os.getpid, (), {})], workers=2)
    assert err.value.field == "images" and err.value.fix == "regenerate" and str(tmp_path) in str(err.value)


def test_a_panel_message_stays_inside_its_panel():
    """A missing-data message (a long metric path) is wrapped to its panel: matplotlib's own wrap=True wraps at the
    figure's edge, and the null model's PiM message ran across the next panel of pim_distributions.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from instdiff.report.figures import _message

    fig, axes = plt.subplots(1, 4, figsize=(14, 3))
    _message(axes[0], "results/smoke/metrics/null_model/pim_point_paper.json: no per_image PiM values")
    fig.canvas.draw()
    text = axes[0].texts[0].get_window_extent()
    panel = axes[0].get_window_extent()
    assert panel.x0 - 1 <= text.x0 and text.x1 <= panel.x1 + 1, (text, panel)
    plt.close(fig)
