"""``instdiff summary`` and ``instdiff compare`` (issue 22 item 7) on tables the real table rule wrote from metric
files the real writers wrote."""

import json
from pathlib import Path

import pytest

from instdiff.cli import main
from instdiff.report.specs import TABLE_FILES
from instdiff.report.tables import make_table

from tests.report_helpers import real_inputs, write_coco

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "config" / "paper_results.yaml"
CONFIG = {"run": "smoke", "seed": 1, "models": {"source": "tiny"}, "report": {},
          "experiments": {"box": {"kind": "generated", "metrics": ["coco_bbox", "fid"]},
                          "real": {"kind": "real", "metrics": ["coco_bbox"]}}}


def _run(root: Path, inputs: dict, drop: int) -> Path:
    dets = json.loads(inputs["detections"].read_text())
    alt = dict(inputs, detections=root / "dets.json")
    root.mkdir(parents=True, exist_ok=True)
    alt["detections"].write_text(json.dumps(dets[drop:]))
    for exp in ("box", "real"):
        write_coco(root / "metrics", alt, exp, resamples=50)
    for name in ("table1", "table2"):
        make_table(name, CONFIG, root / "metrics", PAPER, [root / "tables" / f"{TABLE_FILES[name]}.csv"])
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    inputs = real_inputs(tmp_path_factory.mktemp("inputs"))
    root = tmp_path_factory.mktemp("runs")
    return _run(root / "a", inputs, 0), _run(root / "b", inputs, 1)


def _ap(run: Path, exp: str = "box") -> float:
    return 100 * json.loads((run / "metrics" / exp / "coco_bbox.json").read_text())["values"]["ap"]


def test_summary_prints_ours_the_paper_and_delta(runs, capsys):
    a, _ = runs
    assert main(["summary", str(a), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    ap = next(c for c in s["comparisons"] if c["measure"] == "box.ap" and c["reference"] == "InstanceDiffusion (paper)")
    assert ap["ours"] == pytest.approx(_ap(a), abs=1e-4) and ap["published"] == pytest.approx(38.8, abs=1e-4)
    assert ap["delta"] == pytest.approx(_ap(a) - 38.8, abs=1e-4) and ap["delta_ci"][0] < ap["delta"] < ap["delta_ci"][1]
    # The paper's AR is subtracted from both recall columns; FID has no Δ (its protocol is unpublished).
    recall = {c["measure"]: c["published"] for c in s["comparisons"] if c["reference"] == "InstanceDiffusion (paper)"
              and c["measure"] in ("box.ar100", "box.r")}
    assert recall == pytest.approx({"box.ar100": 52.9, "box.r": 52.9}, abs=1e-4)
    assert not [c for c in s["comparisons"] if c["measure"].endswith(".fid")]
    assert main(["summary", str(a)]) == 0
    text = capsys.readouterr().out
    assert "these numbers test the wiring" in text and f"Δ {_ap(a) - 38.8:+.1f} [" in text


def test_compare_prints_b_minus_a_with_a_ci(runs, capsys):
    a, b = runs
    assert _ap(a) != _ap(b)
    assert main(["compare", str(a), str(b), "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    ap = next(x for x in c["comparisons"] if x["row"] == "InstanceDiffusion (ours)" and x["measure"] == "box.ap")
    assert ap["delta"] == pytest.approx(_ap(b) - _ap(a), abs=1e-4)
    assert ap["delta_ci"][0] < ap["delta"] < ap["delta_ci"][1]
    assert main(["compare", str(a), str(b)]) == 0
    assert "B − A" in capsys.readouterr().out


def test_a_folder_without_tables_is_one_clear_error(tmp_path, capsys):
    assert main(["summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no tables folder" in err and "snakemake" in err
