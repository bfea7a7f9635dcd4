import csv
import io
import json
import re
from pathlib import Path

import pytest

from instdiff.errors import InputError
from instdiff.report.paper import load_paper_results
from instdiff.report.tables import TABLES, Context, build_table, make_table, table_inputs, to_csv, to_markdown

from tests.report_helpers import MANIFEST, smoke_metrics, write_metric

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "config" / "paper_results.yaml"


def _config(experiments, **report):
    return {"run": "smoke", "seed": 1,
            "experiments": {e: {"kind": "real" if e == "real" else "generated", "metrics": m} for e, m in experiments.items()},
            "report": report}


ATTR_CONFIG = _config({"colors": ["attribute"], "textures": ["attribute"]})


def test_table4_markdown_and_csv_exact(tmp_path):
    per = [{"image_id": 1, "accuracy": 0.5, "clip_local": 0.25}, {"image_id": 2, "accuracy": 0.5, "clip_local": 0.25}]
    for exp, acc in (("colors", 0.5), ("textures", 0.25)):
        write_metric(tmp_path / "metrics", exp, "attribute_gt", {"accuracy": acc, "clip_local": 0.25}, per if exp == "colors" else None, 2)
        write_metric(tmp_path / "metrics", exp, "attribute_detected", {"accuracy": 0.125, "clip_local": 0.2}, None, 2)
    outs = [tmp_path / "t4.md", tmp_path / "t4.csv"]
    make_table("table4", ATTR_CONFIG, tmp_path / "metrics", PAPER, outs)
    md = outs[0].read_text().splitlines()
    assert md[2:10] == [
        "| Method | Acc_color | CLIP_local (color) | Acc_texture | CLIP_local (texture) |",
        "|---|---|---|---|---|",
        "| InstanceDiffusion (paper) | 54.4 | 0.250 | 26.8 | 0.225 |",
        "| Student reproduction (reported) | 53.3 | 0.248 | 26.9 | 0.226 |",
        "| InstanceDiffusion (ours, GT-box crops as in the paper) | 50.0 [50.0, 50.0] | 0.250 [0.250, 0.250] | 25.0 | 0.250 |",
        "| Δ ours − paper: InstanceDiffusion (ours, GT-box crops as in the paper) | -4.4 [-4.4, -4.4] | 0.000 [0.000, 0.000] | -1.8 | 0.025 |",
        "| InstanceDiffusion (ours, detected-box crops, corrected) | 12.5 | 0.200 | 12.5 | 0.200 |",
        "| Δ ours − paper: InstanceDiffusion (ours, detected-box crops, corrected) | -41.9 | -0.050 | -14.3 | -0.025 |",
    ]
    footer = outs[0].read_text()
    assert "config sha256 c0ffeec0ffee" in footer and "git abababababab" in footer
    assert "checkpoints sha256: yolov8m 121212121212" in footer
    rows = list(csv.DictReader(io.StringIO(outs[1].read_text())))
    ours = [r for r in rows if r["kind"] == "ours" and r["measure"] == "textures.accuracy"]
    assert [(r["value"], r["status"]) for r in ours] == [("25.0", "ok"), ("12.5", "ok")]
    delta = next(r for r in rows if r["kind"] == "delta" and r["measure"] == "colors.accuracy")
    assert float(delta["value"]) == pytest.approx(50.0 - 54.4)


def test_bootstrap_ci_and_delta_shift(tmp_path):
    per = [{"image_id": i, "pim": v} for i, v in enumerate([0.0, 1.0])]
    write_metric(tmp_path, "point", "pim_point_paper", {"pim": 0.5}, per, 2)
    ctx = Context(tmp_path, {"point": ["point"]}, load_paper_results(PAPER), bootstrap={"resamples": 4000, "seed": 3})
    table = build_table(TABLES["table3"], ctx)
    ours = next(r for r in table.rows if r.kind == "ours")
    cell = ours.cells["point.pim"]
    assert (cell.value, cell.low, cell.high) == (50.0, 0.0, 100.0)
    delta = table.rows[table.rows.index(ours) + 1]
    d = delta.cells["point.pim"]
    assert (d.value, d.low, d.high) == pytest.approx((50.0 - 81.1, -81.1, 100.0 - 81.1))


def test_missing_inputs_name_the_command(tmp_path):
    cfg = _config({"box": ["coco_bbox", "coco_segm", "fid"], "real": ["coco_bbox"]})
    out = tmp_path / "t1.md"
    make_table("table1", cfg, tmp_path / "metrics", PAPER, [out], manifest_path=tmp_path / "manifest.json")
    text = out.read_text()
    assert "missing [1]" in text
    assert f"run `snakemake --cores 1 {tmp_path / 'metrics' / 'box' / 'coco_bbox.json'}`" in text
    assert "run `snakemake --cores 1" in text and "(rule manifest)" in text
    # No cell of "our" rows is a blank or a made-up number.
    ours = [line for line in text.splitlines() if line.startswith("| InstanceDiffusion (ours)")][0]
    assert re.fullmatch(r"\| InstanceDiffusion \(ours\)( \| missing \[\d\])+ \|", ours)


def test_unconfigured_experiment_says_what_to_add(tmp_path):
    write_metric(tmp_path, "real", "coco_bbox", {"ap": 0.5, "ap50": 0.667, "ar": 0.6})
    cfg = _config({"real": ["coco_bbox", "coco_segm"]})
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t.md"])
    text = (tmp_path / "t.md").read_text()
    assert "| Upper bound, real images (ours) | 50.0 | 66.7 | 60.0 | – |" in text
    assert "| Δ ours − paper: Upper bound, real images (ours) | -0.2 | 0.0 | -1.0 | – |" in text
    assert "no experiment for 'box'" in text and "add it under 'experiments'" in text


def test_replicate_seeds_mean_and_t_interval(tmp_path):
    for exp, ap in (("box", 0.30), ("box_s1", 0.40), ("box_s2", 0.50)):
        write_metric(tmp_path, exp, "coco_bbox", {"ap": ap, "ap50": 0.5, "ar": 0.5})
    cfg = _config({e: ["coco_bbox"] for e in ("box", "box_s1", "box_s2")}, replicates={"box": ["box", "box_s1", "box_s2"]})
    assert table_inputs("table1", cfg) == [("box", "coco_bbox"), ("box_s1", "coco_bbox"), ("box_s2", "coco_bbox")]
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t.csv"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    r = next(r for r in rows if r["kind"] == "ours" and r["measure"] == "box.ap")
    half = 4.302652729749464 * 10.0 / 3 ** 0.5
    assert float(r["value"]) == pytest.approx(40.0)
    assert float(r["ci_low"]) == pytest.approx(40 - half, abs=1e-4) and r["n_images"] == "3"


def test_uncertain_values_are_marked_and_metric_without_key_is_an_error(tmp_path):
    write_metric(tmp_path, "box", "coco_bbox", {"ap": 0.5})
    ctx = Context(tmp_path, {"box": ["box"]}, load_paper_results(PAPER))
    with pytest.raises(InputError, match="ap50"):
        build_table(TABLES["table1"], ctx)
    md = to_markdown(build_table(TABLES["table2"], Context(tmp_path, {}, load_paper_results(PAPER))))
    assert "| DenseDiffusion (paper) | 35.0 (?) | 48.6 (?) |" in md


def test_smoke_metrics_build_every_table(tmp_path):
    smoke_metrics(tmp_path)
    cfg = _config({"box": ["coco_bbox", "coco_segm"], "mask": ["coco_bbox", "coco_segm"], "point": ["pim_point"],
                   "scribble": ["pim_scribble"], "colors": ["attribute"], "textures": ["attribute"],
                   "real": ["coco_bbox", "coco_segm", "pim_point", "pim_scribble"]})
    for name in TABLES:
        outs = [tmp_path / f"{name}.{ext}" for ext in ("csv", "md", "tex", "html")]
        make_table(name, cfg, tmp_path, PAPER, outs)
        assert all(o.stat().st_size > 0 for o in outs)
    assert "\\begin{tabular}" in (tmp_path / "table2.tex").read_text()


def test_paper_results_transcription():
    p = load_paper_results(PAPER)
    idf = p.methods["instancediffusion"].values
    assert [idf[k] for k in ("box.ap", "box.ap50", "box.ar", "box.fid")] == [38.8, 55.4, 52.9, 23.9]
    assert [idf[k] for k in ("mask.ap", "mask.ap50", "mask.ar", "mask.fid")] == [27.1, 50.0, 38.1, 25.5]
    assert [idf[k] for k in ("point.pim", "point.fid", "scribble.pim", "scribble.fid")] == [81.1, 27.5, 72.4, 27.3]
    assert p.methods["upper_bound"].values == {"box.ap": 50.2, "box.ap50": 66.7, "box.ar": 61.0,
                                               "mask.ap": 40.8, "mask.ap50": 63.5, "mask.ar": 58.0}
    assert p.methods["reproduction"].values["point.pim"] == 33.66
    # Each published delta "vs. prev. SoTA" is InstanceDiffusion minus a baseline of the same column.
    import yaml

    deltas = yaml.safe_load(PAPER.read_text())["paper_deltas_vs_prev_sota"]["values"]
    for k in ("box.ap", "box.ap50", "box.ar", "mask.ap", "mask.ap50", "mask.ar"):
        baselines = [m.values[k] for mid, m in p.methods.items()
                     if k in m.values and mid not in ("instancediffusion", "upper_bound", "reproduction",
                                                      "instancediffusion_hybrid")]
        assert idf[k] - max(baselines) == pytest.approx(deltas[k], abs=0.051)


@pytest.mark.skipif(not (ROOT.parent.parent / "shared/reference/reproduction-extension.md").is_file()
                    and not (ROOT.parent / "shared/reference/reproduction-extension.md").is_file(),
                    reason="shared reference notes not present")
def test_paper_table_matches_reference_notes():
    ref = next(p for p in (ROOT.parent.parent / "shared/reference/reproduction-extension.md",
                           ROOT.parent / "shared/reference/reproduction-extension.md") if p.is_file())
    lines = [l for l in ref.read_text().splitlines() if l.startswith("| **InstanceDiffusion**")]
    cells = [c.strip().strip("*") for c in lines[0].strip("|").split("|")][1:]
    order = ["box.ap", "box.ap50", "box.ar", "box.fid", "mask.iou", "mask.ap", "mask.ap50", "mask.ar", "mask.fid",
             "point.pim", "point.fid", "scribble.pim", "scribble.fid"]
    vals = load_paper_results(PAPER).methods["instancediffusion"].values
    for key, cell in zip(order, cells):
        if key == "mask.iou":
            assert cell == f"{vals['mask.iou']} / {vals['mask.iou_b']}"
        else:
            assert float(cell) == vals[key]
