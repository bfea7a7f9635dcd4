import csv
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from instdiff.core.errors import InputError
from instdiff.report.paper import load_paper_results
from instdiff.core.stats import bootstrap_mean_ci
from instdiff.report.build import Context, build_table
from instdiff.report.inputs import experiments_by_format, table_inputs
from instdiff.report.render import _tex, to_html, to_latex, to_markdown
from instdiff.report.specs import TABLES
from instdiff.report.tables import make_table

from tests.report_helpers import real_inputs, smoke_metrics, tiny_encoder, write_coco

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "config" / "paper_results.yaml"


def _config(experiments, **report):
    return {"run": "smoke", "seed": 1,
            "experiments": {e: {"kind": "real" if e == "real" else "generated", "metrics": m} for e, m in experiments.items()},
            "report": report}


ATTR_CONFIG = _config({"colors": ["attribute"], "textures": ["attribute"]})
SMOKE_CONFIG = _config({"box": ["coco_bbox", "coco_segm"], "mask": ["coco_bbox", "coco_segm"], "point": ["pim_point"],
                        "scribble": ["pim_scribble"], "colors": ["attribute"], "textures": ["attribute"],
                        "real": ["coco_bbox", "coco_segm", "pim_point", "pim_scribble"]})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return real_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def metrics(tmp_path_factory, inputs):
    """Every metric file the tables read, each made by its real writer from the small real inputs."""
    root = tmp_path_factory.mktemp("metrics")
    smoke_metrics(root, inputs, tiny_encoder(inputs["root"]))
    return root


def _v(path, key):
    return json.loads(Path(path).read_text())["values"][key]


def test_table4_markdown_and_csv_exact(tmp_path, metrics):
    outs = [tmp_path / "t4.md", tmp_path / "t4.csv"]
    make_table("table4", ATTR_CONFIG, metrics, PAPER, outs)
    md = outs[0].read_text().splitlines()
    acc = 100 * _v(metrics / "colors" / "attribute_gt.json", "accuracy")
    det = 100 * _v(metrics / "textures" / "attribute_detected.json", "accuracy")
    # The main table: one row per method; the misses columns only in the supplementary part (GT crops have none).
    assert md[2:6] == [
        "| Method | Acc_color | CLIP_local (color) | Acc_texture | CLIP_local (texture) |",
        "|---|---|---|---|---|",
        "| InstanceDiffusion (paper) [2] | 54.4 | 0.250 | 26.8 | 0.225 |",
        "| Student reproduction (2024-05-30, final) [3] | 53.3 | 0.248 | 26.9 | 0.226 |",
    ]
    misses = int(_v(metrics / "colors" / "attribute_detected.json", "n_unmatched"))
    assert misses > 0
    detected = next(line for line in md if line.startswith("| InstanceDiffusion, detected-box crops"))
    assert detected.split(" | ")[3] == str(misses)
    ours = next(line for line in md if line.startswith("| InstanceDiffusion (ours) ["))
    assert ours.split(" | ")[1].startswith(f"{acc:.1f} [")           # the per-image records give a CI
    footer = outs[0].read_text()
    assert "config sha256 c0ffeec0ffee" in footer and "git abababababab" in footer
    assert "checkpoints sha256: yolov8m 121212121212" in footer
    rows = list(csv.DictReader(io.StringIO(outs[1].read_text())))
    ours = [r for r in rows if r["kind"] == "ours" and r["measure"] == "textures.accuracy"]
    assert [r["status"] for r in ours] == ["ok", "ok"] and float(ours[1]["value"]) == pytest.approx(det, abs=1e-4)
    delta = next(r for r in rows if r["kind"] == "delta" and r["measure"] == "colors.accuracy")
    assert float(delta["value"]) == pytest.approx(acc - 54.4, abs=1e-4)


def test_pim_table_has_bootstrap_ci_from_the_writers_per_image_records(metrics):
    ctx = Context(metrics, {"point": ["point"], "scribble": ["scribble"]}, load_paper_results(PAPER),
                  bootstrap={"resamples": 4000, "seed": 3})
    table = build_table(TABLES["table3"], ctx)
    ours = next(r for r in table.rows if r.kind == "ours")
    data = json.loads((metrics / "point" / "pim_point_paper.json").read_text())
    per = [r["pim"] for r in data["per_image"] if r["pim"] is not None]
    cell = ours.cells["point.pim"]
    assert cell.value == pytest.approx(100 * data["values"]["pim"])
    iv = bootstrap_mean_ci(per, resamples=4000, seed=3)
    assert (cell.low, cell.high) == pytest.approx((100 * iv.low, 100 * iv.high)) and cell.low < cell.high
    delta = next(r for r in table.rows if r.label.startswith("InstanceDiffusion (ours) − InstanceDiffusion (paper)"))
    d = delta.cells["point.pim"]
    assert (d.value, d.low, d.high) == pytest.approx((cell.value - 81.1, cell.low - 81.1, cell.high - 81.1))


def test_coco_table_shows_the_writers_bootstrap_interval(metrics):
    table = build_table(TABLES["table1"], Context(metrics, {"box": ["box"]}, load_paper_results(PAPER)))
    data = json.loads((metrics / "box" / "coco_bbox.json").read_text())
    cell = next(r for r in table.rows if r.kind == "ours").cells["box.ap"]
    iv = data["intervals"]["ap"]
    assert (cell.value, cell.low, cell.high) == pytest.approx((100 * data["values"]["ap"], 100 * iv["low"], 100 * iv["high"]))
    assert cell.low < cell.value < cell.high


@pytest.mark.parametrize("name, fmt", [("table1", "box"), ("table2", "mask")])
def test_ar_both_ways_with_the_note_on_which_is_the_papers(name, fmt, metrics):
    table = build_table(TABLES[name], Context(metrics, {fmt: [fmt]}, load_paper_results(PAPER)))
    md = to_markdown(table)
    data = json.loads((metrics / fmt / f"coco_{'bbox' if fmt == 'box' else 'segm'}.json").read_text())
    ours = next(r for r in table.rows if r.kind == "ours")
    assert ours.cells[f"{fmt}.ar100"].value == pytest.approx(100 * data["values"]["ar100"])
    assert ours.cells[f"{fmt}.r"].value == pytest.approx(100 * data["values"]["r"])
    note = table.footnotes.index(next(n for n in table.footnotes if n.startswith("Recall two ways"))) + 1
    assert f"AR@100^{fmt} (COCO) [{note}] | R^{fmt} (ultralytics; paper's AR, our inference) [{note}]" in md
    assert "we infer it is ultralytics' R" in table.footnotes[note - 1]
    # The paper's AR sits in the R column, the reproduction's in the AR@100 column.
    paper = next(r for r in table.rows if r.label.startswith("InstanceDiffusion (paper)"))
    repro = next(r for r in table.rows if r.label.startswith("Student reproduction (2024-05-30"))
    published = load_paper_results(PAPER)
    assert paper.cells[f"{fmt}.r"].value == published.methods["instancediffusion"].values[f"{fmt}.ar"]
    assert paper.cells[f"{fmt}.ar100"].status == "not_reported"
    assert repro.cells[f"{fmt}.ar100"].value == published.methods["reproduction"].values[f"{fmt}.ar"]


def test_jpeg_copy_rows_appear_only_when_configured(tmp_path, inputs):
    from tests.report_helpers import write_fid

    write_coco(tmp_path, inputs, "box", resamples=0)
    write_fid(tmp_path, inputs, "box")
    # The JPEG experiment's files, made by the same writers from other detections.
    dets = json.loads(inputs["detections"].read_text())
    alt = dict(inputs, detections=tmp_path / "alt.json")
    alt["detections"].write_text(json.dumps(dets[1:]))
    write_coco(tmp_path, alt, "box_jpeg75", resamples=0)
    write_fid(tmp_path, inputs, "box_jpeg75")
    cfg = _config({"box": ["coco_bbox", "fid"]})
    plain = to_markdown(build_table(TABLES["table1"], Context(tmp_path, experiments_by_format(cfg), load_paper_results(PAPER))))
    assert "JPEG-75 copies" not in plain and "| InstanceDiffusion (ours) [" in plain
    cfg["experiments"]["box_jpeg75"] = {"kind": "jpeg_copy", "source": "box", "metrics": ["coco_bbox", "fid"]}
    assert experiments_by_format(cfg)["box@jpeg75"] == ["box_jpeg75"]
    assert ("box_jpeg75", "coco_bbox") in table_inputs("table1", cfg) and ("box_jpeg75", "fid") in table_inputs("fid", cfg)
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t1.md"])
    row = next(line for line in (tmp_path / "t1.md").read_text().splitlines()
               if line.startswith("| InstanceDiffusion, JPEG-75 copies ["))
    ap = 100 * _v(tmp_path / "box_jpeg75" / "coco_bbox.json", "ap")
    assert row.split(" | ")[1] == f"{ap:.1f}" and ap != 100 * _v(tmp_path / "box" / "coco_bbox.json", "ap")
    assert "JPEG-75 copies −" not in (tmp_path / "t1.md").read_text()    # a variant row has no Δ row of its own
    # A column the JPEG experiment does not compute is "–", not "missing": the config did not ask for it.
    cfg["experiments"]["box_jpeg75"]["metrics"] = ["coco_bbox"]
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t2.md"])
    text = (tmp_path / "t2.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| InstanceDiffusion, JPEG-75 copies ["))
    assert "missing" not in row and row.count(" | ") == 4         # the supplementary part has no FID column then


def test_box_ap_of_the_seg_models_boxes_is_a_sensitivity_row(tmp_path, inputs):
    write_coco(tmp_path, inputs, "box", resamples=0)
    dets = json.loads(inputs["detections"].read_text())
    seg = dict(inputs, detections=tmp_path / "seg.json")
    seg["detections"].write_text(json.dumps(dets[1:]))  # the seg model's detections differ from the box model's
    write_coco(tmp_path, seg, "box", resamples=0, metric="coco_bbox_segmodel")
    label = "| InstanceDiffusion, yolov8m-seg boxes ["
    make_table("table1", _config({"box": ["coco_bbox"]}), tmp_path, PAPER, [tmp_path / "a.md"])
    assert label not in (tmp_path / "a.md").read_text()          # not configured: no row
    make_table("table1", _config({"box": ["coco_bbox", "coco_bbox_segmodel"]}), tmp_path, PAPER, [tmp_path / "b.md"])
    row = next(line for line in (tmp_path / "b.md").read_text().splitlines() if line.startswith(label))
    seg_ap = 100 * _v(tmp_path / "box" / "coco_bbox_segmodel.json", "ap")
    assert row.split(" | ")[1] == f"{seg_ap:.1f}" and seg_ap != 100 * _v(tmp_path / "box" / "coco_bbox.json", "ap")
    assert "missing" not in row and "sensitivity check" in (tmp_path / "b.md").read_text()  # its note says what it is


def test_full_resolution_upper_bound_row_beside_the_squashed_one(tmp_path, inputs):
    write_coco(tmp_path, inputs, "real", resamples=0)
    write_coco(tmp_path, inputs, "real_fullres", resamples=0)
    cfg = _config({"real": ["coco_bbox"], "real_fullres": ["coco_bbox"]})
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t.md"])
    text = (tmp_path / "t.md").read_text()
    ap = 100 * _v(tmp_path / "real_fullres" / "coco_bbox.json", "ap")
    assert re.search(rf"\| Upper bound, full resolution \[\d+\] \| {ap:.1f} \|", text)
    assert re.search(r"\| Upper bound \(ours\) \[\d+\] \|", text) and "official annotation file" in text
    assert "full resolution −" not in text
    make_table("table1", _config({"real": ["coco_bbox"]}), tmp_path, PAPER, [tmp_path / "u.md"])
    assert "full resolution" not in (tmp_path / "u.md").read_text()


def test_fid_labels_follow_the_stored_format(tmp_path, inputs):
    from tests.report_helpers import write_fid

    write_fid(tmp_path, inputs, "box")
    png = _config({"box": ["fid"]})
    make_table("fid", png, tmp_path, PAPER, [tmp_path / "png.md"])
    text = (tmp_path / "png.md").read_text()
    assert "scored as stored (PNG;" in text and "round-tripped through JPEG-75" in text
    jpeg = dict(png, generation={"image_format": "jpeg75"})
    make_table("fid", jpeg, tmp_path, PAPER, [tmp_path / "jpeg.md"])
    text = (tmp_path / "jpeg.md").read_text()
    assert "scored as stored (JPEG-75;" in text and "round-tripped" not in text and "PNG to JPEG" not in text


def test_missing_inputs_name_the_command(tmp_path):
    cfg = _config({"box": ["coco_bbox", "coco_segm", "fid"], "real": ["coco_bbox"]})
    out = tmp_path / "t1.md"
    make_table("table1", cfg, tmp_path / "metrics", PAPER, [out], manifest_path=tmp_path / "manifest.json")
    text = out.read_text()
    assert "missing [" in text
    assert f"run `snakemake --cores 1 {tmp_path / 'metrics' / 'box' / 'coco_bbox.json'}`" in text
    assert "run `snakemake --cores 1" in text and "(rule manifest)" in text
    # No cell of "our" rows is a blank or a made-up number.
    ours = [line for line in text.splitlines() if line.startswith("| InstanceDiffusion (ours) [")][0]
    assert re.fullmatch(r"\| InstanceDiffusion \(ours\) \[\d+\]( \| (missing \[\d+\]|–))+ \|", ours)


def test_unconfigured_experiment_says_what_to_add(tmp_path, inputs):
    write_coco(tmp_path, inputs, "real", resamples=0)
    ap = 100 * _v(tmp_path / "real" / "coco_bbox.json", "ap")
    cfg = _config({"real": ["coco_bbox", "coco_segm"]})
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t.md"])
    text = (tmp_path / "t.md").read_text()
    assert re.search(rf"\| Upper bound \(ours\) \[\d+\] \| {ap:.1f} \|", text)
    assert "no experiment for 'box'" in text and "add it under 'experiments'" in text


def test_replicate_seeds_mean_and_t_interval(tmp_path, inputs):
    for exp in ("box", "box_s1", "box_s2"):
        write_coco(tmp_path, inputs, exp, resamples=0)
    # A replicate with other detections: drop the first (an exact hit).
    dets = json.loads(inputs["detections"].read_text())
    alt = dict(inputs, detections=tmp_path / "alt.json")
    alt["detections"].write_text(json.dumps(dets[1:]))
    write_coco(tmp_path, alt, "box_s2", resamples=0)
    aps = [100 * _v(tmp_path / e / "coco_bbox.json", "ap") for e in ("box", "box_s1", "box_s2")]
    assert aps[0] == aps[1] != aps[2]
    cfg = _config({e: ["coco_bbox"] for e in ("box", "box_s1", "box_s2")}, replicates={"box": ["box", "box_s1", "box_s2"]})
    assert table_inputs("table1", cfg) == [("box", "coco_bbox"), ("box_s1", "coco_bbox"), ("box_s2", "coco_bbox")]
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t.csv"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    r = next(r for r in rows if r["kind"] == "ours" and r["measure"] == "box.ap")
    # t-interval on the logit scale of AP in [0, 100], mapped back (stays inside the range)
    z = np.log(np.asarray(aps) / (100 - np.asarray(aps)))
    half = 4.302652729749464 * float(np.std(z, ddof=1)) / 3 ** 0.5
    assert float(r["value"]) == pytest.approx(np.mean(aps), abs=1e-4)
    assert float(r["ci_low"]) == pytest.approx(100 / (1 + np.exp(-(z.mean() - half))), abs=1e-4)
    assert 0 <= float(r["ci_low"]) <= float(r["ci_high"]) <= 100 and r["n_images"] == "3"
    # the reader sees that it is a mean over seeds, each seed's value and their spread
    make_table("table1", cfg, tmp_path, PAPER, [tmp_path / "t.md"])
    md = (tmp_path / "t.md").read_text()
    assert "mean of 3 generation seeds (box " in md and f"seed spread sd {np.std(aps, ddof=1):.1f}" in md


def test_a_metric_file_breaking_its_schema_is_one_clear_error(tmp_path, inputs):
    path = write_coco(tmp_path, inputs, "box", resamples=0)
    data = json.loads(path.read_text())
    del data["values"]["ap50"]
    path.write_text(json.dumps(data))
    ctx = Context(tmp_path, {"box": ["box"]}, load_paper_results(PAPER))
    with pytest.raises(InputError, match="ap50") as exc:
        build_table(TABLES["table1"], ctx)
    assert exc.value.field == "values.ap50"


def _published(name):
    return build_table(TABLES[name], Context(Path("/nonexistent"), {}, load_paper_results(PAPER)))


def test_uncertain_and_conflicting_values_are_marked_and_explained():
    t2, t3 = to_markdown(_published("table2")), to_markdown(_published("table3"))
    row = re.search(r"\| DenseDiffusion \(paper\) \[(\d+)\] \| 35.0 \(\?\) \(!\) \[(\d+)\] \| 48.6 \(\?\) \|", t2)
    assert row, t2
    assert f"[{row.group(1)}] The paper's mask IoU cells hold two numbers" in t2
    assert (f"[{row.group(2)}] DenseDiffusion mask.iou = 35.0 conflicts with the paper's own arithmetic: "
            "InstanceDiffusion 61.6 − 35.0 = +26.6, but the 'vs. prev. SoTA' row says +25.4") in t2
    gl = re.search(r"\| GLIGEN\* \(paper\) \[[\d, ]+\] \| – \| – \| – \| 30.2 \(\?\) \| – \| 32.4 \(\?\) \(!\) \[(\d+)\] \|", t3)
    assert gl, t3
    assert f"[{gl.group(1)}] GLIGEN* scribble.fid = 32.4 conflicts" in t3 and "27.3 − 32.4 = -5.1" in t3 and "says -4.9" in t3


def test_published_values_keep_their_digits_and_both_revisions_are_dated():
    t1, t3, t4 = (to_markdown(_published(n)) for n in ("table1", "table3", "table4"))
    assert "| 23.9 |" in t1 and "23.90" not in t1                  # FID columns print 2 decimals for ours
    assert "| 0.250 |" in t4
    assert re.search(r"\| Student reproduction \(2024-05-27\) \[[\d, ]+\] \| – \| – \| – \| 63.6 \(\?\) \| – \| – \|", t3)
    assert re.search(r"\| Student reproduction \(2024-05-30, final\) \[[\d, ]+\] \| 33.66 \(\?\) \| – \| – \| 23.56 \(\?\) \| – \| – \|", t3)
    assert "Difference -8.8" in t3 and "Δ ours − reproduction uses the final one" in t3


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_footnote_is_in_every_format(name, metrics):
    table = build_table(TABLES[name], Context(metrics, experiments_by_format(SMOKE_CONFIG), load_paper_results(PAPER)))
    assert table.footnotes
    md, tex, html_ = to_markdown(table), to_latex(table), to_html(table)  # the CSV holds the cells only
    for i, note in enumerate(table.footnotes, 1):
        assert f"[{i}] {note}" in md
        assert f"[{i}] {_tex(note)}" + "\\par" in tex and f"\n% [{i}]" not in tex   # printed, not a comment
        assert f"[{i}] {html.escape(note)}" in html_
    # every [n] mark a cell, row or header carries has its note, and every note is marked somewhere it is shown
    grid = "\n".join(line for line in md.splitlines() if line.startswith("|"))
    marks = {int(n) for cell in re.findall(r"\[([\d, ]+)\]", grid) for n in cell.split(",")}
    assert marks == set(range(1, len(table.footnotes) + 1))
    assert len(set(table.footnotes)) == len(table.footnotes)


def test_delta_only_where_it_means_something(metrics, inputs, tmp_path):
    """Δ against the reproduction where its cell is not flagged (Table 4), none against its flagged PiM (Table 3); no
    Δ on FID; each Δ row names the row it subtracts; the paper's AR is subtracted from both recall columns."""
    t3 = build_table(TABLES["table3"], Context(metrics, {"point": ["point"]}, load_paper_results(PAPER)))
    assert not [r for r in t3.rows if r.kind == "delta" and "reproduction" in r.label]     # 33.66 (?) is flagged
    t4 = build_table(TABLES["table4"], Context(metrics, experiments_by_format(ATTR_CONFIG), load_paper_results(PAPER)))
    ours = next(r for r in t4.rows if r.kind == "ours")
    d = next(r for r in t4.rows if r.kind == "delta" and r.reference == "Student reproduction (2024-05-30, final)")
    assert d.label.startswith("InstanceDiffusion (ours) − Student reproduction (2024-05-30, final)")
    assert d.cells["colors.accuracy"].value == pytest.approx(ours.cells["colors.accuracy"].value - 53.3)
    from tests.report_helpers import write_fid

    for exp in ("box", "real"):
        write_coco(tmp_path, inputs, exp, resamples=0)
    write_fid(tmp_path, inputs, "box")
    t1 = build_table(TABLES["table1"], Context(tmp_path, {"box": ["box"], "real": ["real"]}, load_paper_results(PAPER)))
    ours = next(r for r in t1.rows if r.kind == "ours")
    d = next(r for r in t1.rows if r.kind == "delta" and r.reference == "InstanceDiffusion (paper)")
    assert d.label.startswith("InstanceDiffusion (ours) − InstanceDiffusion (paper)")
    for col in ("box.ar100", "box.r"):              # both recall columns, against the paper's AR 52.9
        assert d.cells[col].value == pytest.approx(ours.cells[col].value - 52.9)
    assert ours.cells["box.fid"].status == "ok" and d.cells["box.fid"].status != "ok"  # FID protocol unpublished
    fid_note = next(i for i, n in enumerate(t1.footnotes, 1) if "FID protocol" in n)
    assert f"{fid_note}" in d.label.split(" [")[1]    # and the Δ row's note says so
    assert not [r for r in t1.rows if r.kind == "delta" and "reproduction" in r.label]  # its box cells are all (?)
    ub = next(r for r in t1.rows if r.kind == "delta" and r.reference == "Upper bound (paper)")
    assert ub.label.startswith("Upper bound (ours) − Upper bound (paper)")


def test_smoke_metrics_build_every_table(tmp_path, metrics):
    for name in TABLES:
        outs = [tmp_path / f"{name}.{ext}" for ext in ("csv", "md", "tex", "html")]
        make_table(name, SMOKE_CONFIG, metrics, PAPER, outs)
        assert all(o.stat().st_size > 0 for o in outs)
    assert "\\begin{tabular}" in (tmp_path / "table2.tex").read_text()
    # Table 3 shows CIs (the PiM writer's per-image records reach the reader).
    t3 = (tmp_path / "table3.md").read_text()
    assert re.search(r"\| InstanceDiffusion \(ours\) \[\d+\] \| [\d.]+ \[[\d.]+, [\d.]+\]", t3)


def test_paper_results_transcription():
    p = load_paper_results(PAPER)
    idf = p.methods["instancediffusion"].values
    assert [idf[k] for k in ("box.ap", "box.ap50", "box.ar", "box.fid")] == [38.8, 55.4, 52.9, 23.9]
    assert [idf[k] for k in ("mask.ap", "mask.ap50", "mask.ar", "mask.fid")] == [27.1, 50.0, 38.1, 25.5]
    assert [idf[k] for k in ("point.pim", "point.fid", "scribble.pim", "scribble.fid")] == [81.1, 27.5, 72.4, 27.3]
    assert p.methods["upper_bound"].values == {"box.ap": 50.2, "box.ap50": 66.7, "box.ar": 61.0,
                                               "mask.ap": 40.8, "mask.ap50": 63.5, "mask.ar": 58.0}
    assert p.methods["reproduction"].values["point.pim"] == 33.66
    assert p.methods["reproduction_2024_05_27"].values == {"scribble.pim": 63.6}
    # The reproduction's published differences are its numbers minus the paper's.
    for mid in ("reproduction", "reproduction_2024_05_27"):
        for k, d in p.methods[mid].published_deltas.items():
            assert p.methods[mid].values[k] - idf[k] == pytest.approx(d, abs=1e-9)
    # Each published delta "vs. prev. SoTA" is InstanceDiffusion minus a baseline of the same column.
    import yaml

    deltas = yaml.safe_load(PAPER.read_text())["paper_deltas_vs_prev_sota"]["values"]
    not_baselines = ("instancediffusion", "upper_bound", "reproduction", "reproduction_2024_05_27",
                     "instancediffusion_hybrid", "instancediffusion_attributes")
    # Every cell whose arithmetic disagrees with the published delta is flagged `conflicts`, and only those.
    flagged = {(mid, k) for mid, m in p.methods.items() for k in m.conflicts}
    disagree = set()
    for k, d in deltas.items():
        baselines = {mid: m.values[k] for mid, m in p.methods.items() if k in m.values and mid not in not_baselines}
        if not baselines:
            continue
        best = (min if k.endswith(".fid") else max)(baselines, key=baselines.get)
        if abs(idf[k] - baselines[best] - d) > 0.051:
            disagree.add((best, k))
    assert disagree == flagged == {("densediffusion", "mask.iou"), ("gligen_star", "scribble.fid")}


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


def test_an_undefined_value_says_how_many_instances_went_unmatched(tmp_path):
    """An attribute file whose every instance found no detection (the smoke's detected-crop row on noise): the
    cell says "65/65 instances unmatched", from the file's own counts, not "see the rule's log"."""
    from instdiff.report.build import _undefined_note

    values = {"accuracy": float("nan"), "n_conditioned": 65.0, "n_matched": 0.0, "n_unmatched": 65.0}
    note = _undefined_note(tmp_path / "attribute_detected.json", "accuracy", float("nan"), values)
    assert "65/65 instances unmatched" in note and "rule's log" not in note
    pim = {"pim": float("nan"), "n_unmatched_gt": 69.0, "n_instances": 69.0}
    assert "69/69 instances unmatched" in _undefined_note(tmp_path / "pim_point.json", "pim", float("nan"), pim)
    assert "rule's log" in _undefined_note(tmp_path / "fid.json", "fid", float("nan"), {"fid": float("nan")})
