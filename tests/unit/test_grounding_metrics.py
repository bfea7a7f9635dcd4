"""Matching and IoU on hand-made cases, and the legacy computation on the extension's shipped files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from instdiff.core.errors import InputError
from instdiff.metrics.grounding_iou import (
    accuracy_at,
    legacy_given_box,
    legacy_xywh_iou,
    match_image,
    score_extension_files,
    summarize,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("INSTDIFF_SHARED_FIXTURES", REPO / ".." / "shared" / "fixtures")).resolve()
EXT = SHARED / "extension"
needs_ext = pytest.mark.skipif(not (EXT / "bounding_boxes_chatgpt.json").exists(), reason=f"no extension fixtures in {EXT}")


def test_legacy_iou_reads_corners_as_width_height():
    # [0,0,10,10] and [5,5,10,10] as xywh: 10x10 squares offset by 5 -> inter 25, union 175.
    assert legacy_xywh_iou([0, 0, 10, 10], [5, 5, 10, 10]) == pytest.approx(25 / 175)
    # The same numbers as corners: the second box is degenerate (5..10 x 5..10 area 25), inter 25, union 100.
    from instdiff.core.layout import box_iou

    assert box_iou([0, 0, 10, 10], [5, 5, 10, 10]) == pytest.approx(0.25)


def test_given_box_adds_second_pair_and_clips():
    assert legacy_given_box([50, 50, 150, 150]) == (50, 50, 200, 200)
    assert legacy_given_box([400, 300, 470, 480]) == (400, 300, 512, 512)


def test_hungarian_is_one_to_one_within_label():
    gt = [("person", (0, 0, 10, 10)), ("person", (20, 0, 30, 10)), ("dog", (0, 20, 10, 30))]
    # One big person box overlapping both gt persons, one exact copy of the second; a dog far away.
    pred = [("Person", (0, 0, 30, 10)), ("person", (20, 0, 30, 10)), ("dog", (50, 50, 60, 60))]
    m = match_image(gt, pred, "hungarian")
    pairs = {(p.gt_index, p.pred_index): p.iou for p in m.pairs}
    # Optimal: gt1<->pred1 (1.0), gt0<->pred0 (100/300); the dog does not overlap, so it is no match.
    assert pairs == {(0, 0): pytest.approx(1 / 3), (1, 1): pytest.approx(1.0)}
    s = summarize([m])
    assert s["mean_iou"] == pytest.approx((1 / 3 + 1) / 2)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["success_at_0.5"] == pytest.approx(1 / 3)
    assert s["auc"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert s["n_missed_gt"] == 1 and s["n_unmatched_pred"] == 1


def test_best_per_label_keeps_one_entry_per_label_zeros_included():
    gt = [("person", (0, 0, 10, 10)), ("person", (20, 0, 30, 10)), ("dog", (0, 20, 10, 30))]
    pred = [("person", (0, 0, 30, 10)), ("dog", (50, 50, 60, 60)), ("cat", (0, 0, 5, 5))]
    m = match_image(gt, pred, "best-per-label")
    assert [(p.label, round(p.iou, 6)) for p in m.pairs] == [("person", round(1 / 3, 6)), ("dog", 0.0)]
    s = summarize([m])
    assert s["mean_iou"] == pytest.approx(1 / 6)  # the zero counts, as in the extension
    assert s["n_pairs"] == 2 and s["n_matched"] == 1


def test_accuracy_curve_and_auc_identity():
    m = match_image([("a", (0, 0, 10, 10)), ("a", (0, 0, 10, 10))], [("a", (0, 0, 10, 5))])
    assert accuracy_at([m], [0.0, 0.5, 0.51]) == [1.0, 0.5, 0.0]
    assert summarize([m])["auc"] == pytest.approx(0.25)


def test_empty_prediction_counts_misses():
    s = summarize([match_image([("a", (0, 0, 1, 1))], [])])
    assert s["recall"] == 0.0 and s["precision"] is None and s["mean_iou"] is None and s["auc"] == 0.0


@needs_ext
def test_legacy_reproduces_published_042():
    r = score_extension_files(EXT / "converted_cogvlm_bboxes.json", EXT / "bounding_boxes_chatgpt.json", "legacy")
    assert r["matching"] == "best-per-label"
    assert r["n_pairs"] == 32 and r["n_gt"] == 140 and r["n_pred"] == 67
    assert round(r["mean_iou"], 2) == 0.42
    assert r["mean_iou"] == pytest.approx(0.41658, abs=5e-6)


@needs_ext
def test_corrected_modes_differ_from_legacy():
    pred, gt = EXT / "converted_cogvlm_bboxes.json", EXT / "bounding_boxes_chatgpt.json"
    legacy = score_extension_files(pred, gt, "legacy")["mean_iou"]
    intended = score_extension_files(pred, gt, "intended", "best-per-label")["mean_iou"]
    given = score_extension_files(pred, gt, "given", "best-per-label")["mean_iou"]
    # The generator followed the misread boxes: CogVLM agrees better with what it was given than with the intent.
    assert given > legacy > intended


@needs_ext
def test_cli_prints_one_json_object():
    out = subprocess.run(
        [sys.executable, "-m", "instdiff.cli", "grounding-iou", "--pred", str(EXT / "converted_cogvlm_bboxes.json"),
         "--gt", str(EXT / "bounding_boxes_chatgpt.json"), "--mode", "legacy"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    r = json.loads(out.stdout)
    assert r["mean_iou"] == pytest.approx(0.41658, abs=5e-6) and r["n_pairs"] == 32


def test_mismatched_files_raise_input_error(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text('{"description_id": 0, "bboxes": []}\n')
    b.write_text("")
    with pytest.raises(InputError, match="paired by position"):
        score_extension_files(a, b)
    b.write_text('{"description_id": 1, "bboxes": [{"bbox": [1, 2, 3], "category_name": "x"}]}\n')
    with pytest.raises(InputError, match="bbox"):
        score_extension_files(a, b)
