"""``instdiff summary`` and ``instdiff compare`` on small run folders whose metric files the real writers made
(tests/report_helpers.py): the numbers shown are the files' and the published ones, Δ and its interval by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from instdiff.cli import main
from instdiff.core.errors import InputError
from instdiff.core.io import read_json
from instdiff.report.compare import compare, independent_interval
from instdiff.report.summary import HEADLINES, summarize, to_text
from instdiff.core.stats import bootstrap_mean_ci
from tests.report_helpers import DET_SQUARES, MANIFEST, _square, real_inputs, write_coco, write_pim
from tests.unit.metrics_data import dets

EXPERIMENTS = {"box": {"kind": "generated", "metrics": ["coco_bbox"]},
               "mask": {"kind": "generated", "metrics": ["coco_segm"]},
               "point": {"kind": "generated", "metrics": ["pim_point"]}}


def _run(root, name: str, change: str | None = None, source: str = "tiny"):
    """A run folder results/{name}: box/mask COCO files and point PiM files by the writers, and its manifest.
    ``change``: "move" puts image 1's detection off its object (every image still scored, worse AP and PiM),
    "drop" removes image 4's only detection (image 4 then has no PiM)."""
    inputs = real_inputs(root / f"{name}_inputs")
    if change:
        squares = {**DET_SQUARES, 1: [(40, 60, 40, 60)]} if change == "move" else \
            {i: sq for i, sq in DET_SQUARES.items() if i != 4}
        inputs["detections"].write_text(json.dumps(
            [d for i, sq in squares.items() for d in dets(i, [_square(*q) for q in sq])]))
    run = root / name
    metrics = run / "metrics"
    write_coco(metrics, inputs, "box", "bbox", resamples=50)
    write_coco(metrics, inputs, "mask", "segm", resamples=50)
    write_pim(metrics, inputs, "point", "point", "paper")
    manifest = {**MANIFEST, "run": name, "models_source": source,
                "config": {"run": name, "models": {"source": source}, "experiments": EXPERIMENTS}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return _run(root, "a"), _run(root, "b", change="move", source="release"), _run(root, "c", change="drop")


def _row(rows, measure):
    return next(r for r in rows if r.measure == measure)


def test_summary_rows_are_the_files_and_the_papers_numbers(runs):
    a = runs[0]
    s = summarize(a)
    assert [r.measure for r in s.rows] == [h.measure for h in HEADLINES]
    box = read_json(a / "metrics" / "box" / "coco_bbox.json")
    r = _row(s.rows, "box.ap")
    assert r.ours == pytest.approx(100 * box["values"]["ap"])
    assert (r.low, r.high) == pytest.approx((100 * box["intervals"]["ap"]["low"], 100 * box["intervals"]["ap"]["high"]))
    assert (r.paper, r.paper_text) == (38.8, "38.8")
    assert (r.delta, r.delta_low, r.delta_high) == pytest.approx((r.ours - 38.8, r.low - 38.8, r.high - 38.8))
    # The paper's AR is compared with ultralytics' R.
    rr = _row(s.rows, "box.r")
    assert (rr.ours, rr.paper) == (pytest.approx(100 * box["values"]["r"]), 52.9)
    # PiM: the file's value, an interval from its per-image records.
    pim = read_json(a / "metrics" / "point" / "pim_point_paper.json")
    p = _row(s.rows, "point.pim")
    assert p.ours == pytest.approx(100 * pim["values"]["pim"]) and p.paper == 81.1
    assert p.low is not None and p.low <= p.ours <= p.high and "bootstrap" in p.ci_method
    # Not computed in this run: missing, never a number.
    assert _row(s.rows, "colors.accuracy").status == "missing" and _row(s.rows, "colors.accuracy").ours is None
    assert _row(s.rows, "box.fid").status == "missing"


def test_summary_text_marks_a_tiny_model_run(runs):
    a, b, _ = runs
    text = to_text(summarize(a))
    assert "tiny models and synthetic data" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("AP box "))
    r = _row(summarize(a).rows, "box.ap")
    assert f"{r.ours:.1f} [{r.low:.1f}, {r.high:.1f}]" in line and "38.8" in line and f"{r.delta:+.1f}" in line
    assert "tiny models" not in to_text(summarize(b))


def test_summary_command_json_and_errors(runs, capsys, tmp_path):
    a = runs[0]
    assert main(["summary", str(a), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["smoke"] is True and doc["run"] == "a" and len(doc["rows"]) == len(HEADLINES)
    assert doc["rows"][0]["measure"] == "box.ap" and doc["rows"][0]["paper"] == 38.8
    assert main(["summary", str(tmp_path)]) == 2
    assert "no metrics/ folder" in capsys.readouterr().err


def test_compare_paired_where_per_image_values_exist_else_approximate(runs):
    a, b, _ = runs
    c = compare(a, b)
    box = _row(c.rows, "box.ap")
    va, vb = (read_json(r / "metrics" / "box" / "coco_bbox.json") for r in (a, b))
    assert box.delta == pytest.approx(100 * (vb["values"]["ap"] - va["values"]["ap"]))
    assert box.ci_method == "approx-independent"
    assert (box.delta_low, box.delta_high) == pytest.approx(independent_interval(
        box.a, box.a_low, box.a_high, box.b, box.b_low, box.b_high))
    # PiM: every image scored in both runs: a paired bootstrap of the per-image differences, by hand.
    pa, pb = ({str(r["image_id"]): 100 * r["pim"] for r in read_json(x / "metrics" / "point" / "pim_point_paper.json")
               ["per_image"]} for x in (a, b))
    pim = _row(c.rows, "point.pim")
    assert pim.delta == pytest.approx(pim.b - pim.a) and pim.delta < 0
    assert pim.ci_method == "paired-bootstrap" and pim.n_paired == 4
    diffs = [pb[i] - pa[i] for i in sorted(pa)]
    iv = bootstrap_mean_ci(diffs)
    shift = pim.delta - float(np.mean(diffs))
    assert (pim.delta_low, pim.delta_high) == pytest.approx((iv.low + shift, iv.high + shift))
    assert _row(c.rows, "box.fid").status == "missing in both"


def test_compare_runs_that_scored_different_images_is_not_paired(runs):
    a, _, c = runs
    pim = _row(compare(a, c).rows, "point.pim")
    assert pim.images_differ and pim.ci_method == "approx-independent"
    assert pim.delta == pytest.approx(pim.b - pim.a)


def test_independent_interval_by_hand():
    low, high = independent_interval(10.0, 8.0, 13.0, 12.0, 11.0, 16.0)
    assert (low, high) == pytest.approx((2.0 - math.hypot(3.0, 1.0), 2.0 + math.hypot(2.0, 4.0)))


def test_compare_a_run_with_itself_and_with_a_missing_file(runs, tmp_path, capsys):
    a, b, _ = runs
    same = compare(a, a)
    pim = _row(same.rows, "point.pim")
    assert (pim.delta, pim.delta_low, pim.delta_high) == (0.0, 0.0, 0.0)
    box = _row(same.rows, "box.ap")
    assert box.delta == 0.0 and box.delta_low < 0 < box.delta_high
    (b / "metrics" / "mask" / "coco_segm.json").rename(tmp_path / "coco_segm.json")
    try:
        assert main(["compare", str(a), str(b)]) == 0
        out = capsys.readouterr().out
        assert "missing in B" in out and "paired, " in out and "approx." in out
        assert _row(compare(a, b).rows, "mask.ap").status == "missing in B"
    finally:
        (tmp_path / "coco_segm.json").rename(b / "metrics" / "mask" / "coco_segm.json")


def test_replicate_seeds_from_the_configfile(runs, tmp_path):
    """report.replicates is not in the manifest: with --configfile the headline is the seeds' mean and
    interval (t on the logit scale)."""
    import yaml

    from instdiff.core.stats import seeds_mean_ci

    a, b, _ = runs
    run = tmp_path / "seeds"
    (run / "metrics").mkdir(parents=True)
    (run / "metrics" / "box").symlink_to(a / "metrics" / "box")
    (run / "metrics" / "box_seed2").symlink_to(b / "metrics" / "box")   # a second seed's files, by the writers
    (run / "manifest.json").write_text((a / "manifest.json").read_text())
    config = {"experiments": {"box": EXPERIMENTS["box"], "box_seed2": EXPERIMENTS["box"]},
              "report": {"replicates": {"box": ["box", "box_seed2"]}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    aps = [100 * read_json(r / "metrics" / "box" / "coco_bbox.json")["values"]["ap"] for r in (a, b)]
    assert aps[0] != aps[1]
    row = _row(summarize(run, configfile=tmp_path / "config.yaml").rows, "box.ap")
    iv = seeds_mean_ci(aps, bounds=(0.0, 100.0))  # AP in percent: the interval stays inside its range
    assert (row.ours, row.low, row.high, row.ci_method) == (pytest.approx(iv.value), pytest.approx(iv.low),
                                                           pytest.approx(iv.high), iv.method)
    assert 0.0 <= row.low <= row.ours <= row.high <= 100.0
    assert _row(summarize(run).rows, "box.ap").ours == pytest.approx(aps[0])      # the manifest: seed 1 only
    with pytest.raises(InputError, match="--configfile"):
        summarize(run, configfile=tmp_path / "nope.yaml")
