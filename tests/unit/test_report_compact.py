"""The tables as a reader sees them (issue 22 items 1-4, issue 21 item 4): one row per method, other methods slotted
in from the config, notes that stand alone, LaTeX that compiles, and a banner on runs of tiny models."""

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from instdiff.report.build import Context, build_table
from instdiff.report.inputs import experiments_by_format, table_inputs
from instdiff.report.paper import load_paper_results
from instdiff.report.render import tex_label, to_latex, to_markdown
from instdiff.report.specs import TABLE_FILES, TABLES
from instdiff.report.tables import make_table

from tests.report_helpers import real_inputs, write_coco, write_pim

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "config" / "paper_results.yaml"
GEN = {"kind": "generated", "location": "box"}
CONFIG = {
    "run": "smoke", "seed": 1, "data": {"source": "synthetic"}, "models": {"source": "tiny"}, "report": {},
    "experiments": {
        "box": dict(GEN, metrics=["coco_bbox", "coco_bbox_segmodel"]),
        "real": {"kind": "real", "metrics": ["coco_bbox", "coco_bbox_segmodel", "pim_point"]},
        "real_fullres": {"kind": "real", "metrics": ["coco_bbox"]},
        "box_jpeg75": {"kind": "jpeg_copy", "source": "box", "jpeg_quality": 75, "metrics": ["coco_bbox"]},
        "gligen_box": dict(GEN, model="gligen", metrics=["coco_bbox"]),
        "null_box": {"kind": "blank", "location": "box", "metrics": ["coco_bbox"]},
        "sdxl": {"kind": "external", "label": "SDXL", "layouts": "box", "images": "sdxl_images", "metrics": ["coco_bbox"]},
        "point": {"kind": "generated", "location": "point", "metrics": ["pim_point"]},
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    inputs = real_inputs(root / "inputs")
    metrics = root / "metrics"
    for exp in ("box", "real", "real_fullres", "box_jpeg75", "gligen_box", "null_box", "sdxl"):
        write_coco(metrics, inputs, exp, resamples=0)
    for exp in ("box", "real"):
        write_coco(metrics, inputs, exp, resamples=0, metric="coco_bbox_segmodel")
    for exp in ("point", "real"):
        write_pim(metrics, inputs, exp, "point", "paper")
    return {"metrics": metrics, "inputs": inputs, "root": root}


def _grid(md: str) -> list[str]:
    """The main table's lines: the first run of lines that start with "|"."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def test_one_row_per_method_with_other_methods_from_the_config(run, tmp_path):
    out = tmp_path / "t1.md"
    make_table("table1", CONFIG, run["metrics"], PAPER, [out])
    md = out.read_text()
    main = _grid(md)
    assert len(main) <= 14, "\n".join(main)
    labels = [line.split(" | ")[0][2:].split(" [")[0] for line in main[2:]]
    assert labels == ["Upper bound (paper)", "GLIGEN (paper)", "GLIGEN* (paper)", "InstanceDiffusion (paper)",
                      "InstanceDiffusion hybrid (paper)", "Student reproduction (2024-05-30, final)",
                      "InstanceDiffusion (ours)", "GLIGEN (ours)", "SDXL (external images)", "Upper bound (ours)",
                      "Null model (grey images)"]
    assert all(len(label) <= 45 for label in labels)
    # Variants are in the supplementary part, not among the methods.
    assert "JPEG-75 copies" not in "\n".join(main) and "| InstanceDiffusion, JPEG-75 copies [" in md
    assert "| Upper bound, full resolution [" in md and "| InstanceDiffusion, yolov8m-seg boxes [" in md
    # GLIGEN's row is compared with GLIGEN's published row; the null model and external images with none.
    gligen = 100 * json.loads((run["metrics"] / "gligen_box" / "coco_bbox.json").read_text())["values"]["ap"]
    d = next(line for line in md.splitlines() if line.startswith("| GLIGEN (ours) − GLIGEN (paper)"))
    assert d.split(" | ")[1] == f"{gligen - 19.6:+.1f}"
    assert "Null model (grey images) −" not in md and "SDXL (external images) −" not in md
    # The rules read the other methods' files.
    needed = table_inputs("table1", CONFIG)
    assert {("gligen_box", "coco_bbox"), ("null_box", "coco_bbox"), ("sdxl", "coco_bbox")} <= set(needed)
    # The long form keeps every cell of every row, with its part and the reference of each Δ.
    make_table("table1", CONFIG, run["metrics"], PAPER, [tmp_path / "t1.csv"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t1.csv").read_text())))
    assert {r["section"] for r in rows} == {"main", "delta", "supplementary"}
    assert {r["reference"] for r in rows if r["section"] == "delta"} == {"InstanceDiffusion (paper)", "GLIGEN (paper)",
                                                                         "Upper bound (paper)"}


def test_pim_rows_show_their_unmatched_count(run, tmp_path):
    make_table("table3", CONFIG, run["metrics"], PAPER, [tmp_path / "t3.md"])
    md = (tmp_path / "t3.md").read_text()
    values = json.loads((run["metrics"] / "point" / "pim_point_paper.json").read_text())["values"]
    assert "unmatched (points)" in _grid(md)[0]
    ours = next(line for line in _grid(md) if line.startswith("| InstanceDiffusion (ours) ["))
    assert ours.split(" | ")[2] == str(int(values["n_unmatched_gt"]))


@pytest.mark.parametrize("name", sorted(TABLES))
def test_notes_stand_alone_one_per_fact_and_only_about_what_the_table_shows(name, run):
    table = build_table(TABLES[name], Context(run["metrics"], experiments_by_format(CONFIG), load_paper_results(PAPER)))
    notes = "\n".join(table.footnotes + table.footer)
    for unshipped in ("§", "reproduction-extension", "peers.md", "seed 000", ".txt", "q5", "q6"):
        assert unshipped not in notes, unshipped
    for cited in set(re.findall(r"(docs/[\w./-]+\.md|config/[\w./-]+\.yaml)", notes)):
        assert (ROOT / cited).is_file(), cited
    assert len(set(table.footnotes)) == len(table.footnotes)
    assert sum("infer" in n and "AR" in n for n in table.footnotes) <= 1          # the AR mapping: one note
    measures = {c.id.split(".")[1] for c in TABLES[name].columns}
    if "fid" not in measures:
        assert not [n for n in table.footnotes if "FID" in n], table.footnotes


def test_latex_has_real_scripts_and_compiles(run, tmp_path):
    assert tex_label("AP_50^box") == r"AP$_{\mathrm{50}}^{\mathrm{box}}$"
    assert tex_label("CLIP_local (color)") == r"CLIP$_{\mathrm{local}}$ (color)"
    texs = {}
    for name in TABLES:
        table = build_table(TABLES[name], Context(run["metrics"], experiments_by_format(CONFIG),
                                                  load_paper_results(PAPER), banner="Test run"))
        texs[name] = to_latex(table)
        assert "textasciicircum" not in texs[name] and texs[name].isascii()
    assert r"AP$^{\mathrm{box}}$" in texs["table1"] and r"Acc$_{\mathrm{color}}$" in texs["table4"]
    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex (apt-get install texlive-latex-base texlive-latex-recommended): escapes checked only")
    for name, tex in texs.items():
        (tmp_path / f"{name}.tex").write_text(tex)
        (tmp_path / "doc.tex").write_text(
            r"\documentclass{article}\usepackage{booktabs}\usepackage[margin=1cm,landscape]{geometry}"
            r"\begin{document}\input{" + name + r".tex}\end{document}" + "\n")
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (name, proc.stdout[-2000:])


def test_a_run_of_tiny_models_says_so_on_every_table_format(run, tmp_path):
    outs = [tmp_path / f"{TABLE_FILES['table1']}.{ext}" for ext in ("md", "csv", "tex", "html")]
    make_table("table1", CONFIG, run["metrics"], PAPER, outs)
    banner = "these numbers test the wiring, not the model"
    for out in outs:
        assert banner in out.read_text(), out.name
    assert outs[0].read_text().splitlines()[2].startswith("> **Test run on tiny random stand-in models")
    real = dict(CONFIG, data={"source": "coco"}, models={"source": "release"})
    make_table("table1", real, run["metrics"], PAPER, [tmp_path / "real.md"])
    assert banner not in (tmp_path / "real.md").read_text()
    assert banner not in to_markdown(build_table(TABLES["table1"], Context(run["metrics"], {}, load_paper_results(PAPER))))


def _cell_of(md: str, label: str, column: int) -> str:
    line = next(ln for ln in _grid(md) if ln.startswith(f"| {label}"))
    return line.split(" | ")[column]


def test_a_number_the_null_model_reaches_is_flagged(run, tmp_path):
    """The fixture's null experiment scores the same detections as box: every box cell is at the floor and says so,
    with one note; the paper's rows, and a run without a null experiment, carry no such mark."""
    out = tmp_path / "t1.md"
    make_table("table1", CONFIG, run["metrics"], PAPER, [out])
    md = out.read_text()
    assert "(≈null)" in _cell_of(md, "InstanceDiffusion (ours)", 1)
    assert "(≈null)" not in _cell_of(md, "InstanceDiffusion (paper)", 1)
    assert md.count("the null model (blank grey images of the same layouts) scores at least 50%") == 1
    no_null = {**CONFIG, "experiments": {k: v for k, v in CONFIG["experiments"].items() if k != "null_box"}}
    make_table("table1", no_null, run["metrics"], PAPER, [out])
    assert "(≈null)" not in out.read_text()


def test_the_null_flag_follows_the_rule_by_hand():
    from instdiff.report.build import _flag_near_null
    from instdiff.report.cells import Cell, Row

    spec = TABLES["table1"]
    ap = spec.columns[0].id
    ctx = Context(metrics_dir=Path("."), experiments={}, paper=load_paper_results(PAPER))
    rows = [Row("ours", "ours", {ap: Cell(40.0, 35.0, 45.0)}), Row("real", "upper bound", {ap: Cell(60.0, 55.0, 65.0)}),
            Row("null", "null", {ap: Cell(25.0, 20.0, 30.0)})]
    _flag_near_null(ctx, spec, rows)
    # 25 >= 0.5 * 40: flagged; 25 < 0.5 * 60 and 30 < 55: not
    assert rows[0].cells[ap].near_null is not None and rows[1].cells[ap].near_null is None
    assert rows[0].cells[ap].text(1).endswith(f"(≈null) [{rows[0].cells[ap].near_null}]")
