"""PiM on masks small enough to check by hand (8 x 8 canvas)."""

from __future__ import annotations

import numpy as np
import pytest

from instdiff.core.errors import InputError
from instdiff.core.layout import Instance, Layout
from instdiff.metrics.cocofiles import load_gt
from instdiff.metrics.pim import greedy_match, pim_corrected, pim_paper
from tests.unit.metrics_data import dets, gt_file, square

EMPTY = np.zeros((8, 8), np.uint8)


def test_greedy_match_ties_nan_and_order():
    nan = np.nan
    iou = np.array([[0.5, 0.5, 0.1],    # tie: the earlier prediction (0) wins
                    [nan, 0.0, 0.0],    # NaN never chosen; 0.0 beats the initial -1, first of the equal ones
                    [0.9, nan, nan]])   # its best (0) is taken, only NaN is left: no pair
    assert greedy_match(iou) == [(0, 0), (1, 1)]
    assert greedy_match(np.zeros((2, 0))) == []
    assert greedy_match(np.array([[0.3], [0.8]])) == [(0, 0)]  # GT order, not best-first


@pytest.fixture()
def hand(tmp_path):
    """Four images; expected values are worked out in the comments."""
    gt = load_gt(gt_file(tmp_path / "gt.json", {
        1: [square(8, 8, 0, 4, 0, 4)],                      # centre of box: (int(1.5), int(1.5)) = (1, 1)
        2: [EMPTY, square(8, 8, 4, 8, 4, 8)],               # empty GT, then a square with centre (5, 5)
        3: [square(8, 8, 0, 2, 0, 2), square(8, 8, 6, 8, 6, 8)],
        4: [square(8, 8, 2, 4, 2, 4)],                      # no predictions at all
    }))
    preds = (
        # image 1: two halves with IoU 0.5 each; the tie goes to the first (cols 0-1), which holds (1, 1)
        dets(1, [square(8, 8, 0, 4, 0, 2), square(8, 8, 0, 4, 2, 4)])
        # image 2: empty pred (NaN with the empty GT), a disjoint square (IoU 0, taken by the empty GT), the match
        + dets(2, [EMPTY, square(8, 8, 4, 8, 0, 4), square(8, 8, 4, 8, 4, 8)])
        # image 3: one prediction for two GT: the first GT takes it at IoU 0, the second stays unmatched
        + dets(3, [square(8, 8, 6, 8, 6, 8)])
    )
    return gt, preds


def test_paper_point_by_hand(hand):
    gt, preds = hand
    r = pim_paper(gt, preds, "point")
    per = {im["image_id"]: im for im in r["per_image"]}
    assert per[1]["matched_pairs"] == [[0, 0]] and per[1]["scores"] == [1]
    assert per[2]["matched_pairs"] == [[0, 1], [1, 2]] and per[2]["scores"] == [1] and per[2]["skipped"] == 1
    assert per[3]["matched_pairs"] == [[0, 0]] and per[3]["scores"] == [0] and per[3]["unmatched"] == 1
    assert per[4]["matched_pairs"] == [] and per[4]["pim"] is None
    assert r["pim"] == pytest.approx(2 / 3, abs=1e-15)
    assert r["n_images"] == 3 and r["n_pairs"] == 4 and r["n_scored"] == 3


def test_paper_scribble_by_hand_and_seeded(hand):
    gt, preds = hand
    a = pim_paper(gt, preds, "scribble", seed=5)
    b = pim_paper(gt, preds, "scribble", seed=5)
    assert a == b
    per = {im["image_id"]: im for im in a["per_image"]}
    assert per[2]["scores"] == [1.0]  # the GT square lies inside its prediction: every point hits
    assert per[3]["scores"] == [0.0]  # disjoint pair
    # image 1: 16 GT pixels < 20, so 20 draws with replacement; replay the draw order (image 1 comes first)
    np.random.seed(5)
    idx = np.random.choice(16, 20, replace=True)
    cols = np.flatnonzero(square(8, 8, 0, 4, 0, 4))[idx] % 8
    assert per[1]["scores"] == [float(np.mean(cols < 2))]


def test_paper_scribble_skips_points_all_at_origin(tmp_path):
    one = np.zeros((8, 8), np.uint8)
    one[0, 0] = 1  # a 1-pixel GT at the origin: 20 draws of (0, 0) sum to 0, which the original skips
    gt = load_gt(gt_file(tmp_path / "gt.json", {1: [one, square(8, 8, 4, 6, 4, 6)]}))
    r = pim_paper(gt, dets(1, [one, square(8, 8, 4, 6, 4, 6)]), "scribble", seed=0)
    assert r["per_image"][0]["scores"] == [1.0] and r["n_skipped"] == 1


def _layout(image_id, instances):
    return Layout(id=str(image_id), caption="", instances=instances, width=8, height=8, image_id=image_id)


def test_corrected_uses_conditioning_points_and_counts_misses(hand):
    gt, preds = hand
    box = (0.0, 0.0, 0.5, 0.5)
    layouts = [
        _layout(2, [Instance("person", box, ann_id=2, point=(0.7, 0.7), scribble=[(0.1, 0.1)]),  # empty GT: skipped
                    Instance("person", box, ann_id=3, point=(0.7, 0.7),
                             scribble=[(0.6, 0.6), (0.99, 0.99), (0.1, 0.9), (1.5, 0.6)])]),
        _layout(1, [Instance("person", box, ann_id=1, point=(0.3, 0.1), scribble=[(0.1, 0.1), (0.3, 0.3)])]),
    ]
    point = pim_corrected(gt, preds, layouts, "point")
    assert [im["image_id"] for im in point["per_image"]] == [1, 2]  # sorted ids
    per = {im["image_id"]: im for im in point["per_image"]}
    # image 1: (0.3, 0.1) is pixel row 0, col 2: outside the matched prediction (cols 0-1)
    assert per[1]["scores"] == [0.0]
    assert per[2]["scores"] == [1.0] and per[2]["skipped"] == 1
    assert point["pim"] == pytest.approx(0.5)
    scribble = pim_corrected(gt, preds, layouts, "scribble")
    per = {im["image_id"]: im for im in scribble["per_image"]}
    assert per[1]["scores"] == [0.5]  # (0.1, 0.1) -> col 0 hit; (0.3, 0.3) -> col 2 miss
    # image 2: two points inside (rows/cols 4-7), (0.1, 0.9) outside the mask, (1.5, 0.6) outside the canvas
    assert per[2]["scores"] == [0.5] and per[2]["out_of_canvas"] == 1
    # image 2's empty GT is matched by no detection (IoU NaN or 0 < 0.5), so 2 pairs; no scored instance unmatched
    assert scribble["n_out_of_canvas"] == 1 and scribble["n_images"] == 2 and scribble["n_pairs"] == 2
    assert scribble["n_unmatched_gt"] == 0 and scribble["n_instances"] == 3


def test_corrected_needs_annotation_ids(hand):
    gt, preds = hand
    with pytest.raises(InputError, match="ann_id"):
        pim_corrected(gt, preds, [_layout(1, [Instance("person", (0, 0, 1, 1), point=(0.5, 0.5))])], "point")


def test_paper_restricts_to_evaluated_images(hand):
    gt, preds = hand
    r = pim_paper(gt, preds, "point", image_ids=[3, 1])
    assert [im["image_id"] for im in r["per_image"]] == [1, 3]  # annotation-file order is kept
    assert r["pim"] == pytest.approx(0.5)


def test_many_predictions_per_image(tmp_path):
    """300 predictions (the validator's max_det): pycocotools' area() fails on >255 RLEs at once."""
    gt = load_gt(gt_file(tmp_path / "gt.json", {1: [square(8, 8, 0, 4, 0, 4)]}))
    preds = dets(1, [EMPTY] * 299 + [square(8, 8, 0, 4, 0, 4)], scores=[0.5] * 300)
    r = pim_paper(gt, preds, "point")
    assert r["per_image"][0]["matched_pairs"] == [[0, 299]] and r["pim"] == 1.0


def _centre_layouts(images: dict, size: int):
    """One layout per image, each instance conditioned on its square's centre point (normalised)."""
    layouts, ann_id = [], 1
    for img_id, squares in images.items():
        insts = []
        for r0, r1, c0, c1 in squares:
            centre = ((c0 + c1) / 2 / size, (r0 + r1) / 2 / size)
            insts.append(Instance("person", (c0 / size, r0 / size, c1 / size, r1 / size), ann_id=ann_id, point=centre,
                                  scribble=[centre]))
            ann_id += 1
        layouts.append(Layout(id=str(img_id), caption="", instances=insts, width=size, height=size, image_id=img_id))
    return layouts


def test_corrected_whole_image_mask_scores_near_zero(tmp_path):
    """A detector answering every image with one mask over the whole canvas (of a present class, confident):
    the paper's PiM gives it 100 (class-agnostic, any IoU, unmatched instances dropped); the corrected one ~0."""
    size = 32
    images = {1: [(2, 10, 2, 10), (20, 28, 4, 12), (4, 12, 20, 28)], 2: [(8, 16, 8, 16)],
              3: [(0, 6, 0, 6), (24, 32, 24, 32)]}
    gt = load_gt(gt_file(tmp_path / "gt.json", {i: [square(size, size, *sq) for sq in sqs] for i, sqs in images.items()},
                         size=(size, size)))
    whole = np.ones((size, size), np.uint8)
    preds = [d for i in images for d in dets(i, [whole], scores=[0.95])]
    layouts = _centre_layouts(images, size)
    for mode in ("point", "scribble"):
        assert pim_paper(gt, preds, mode, seed=0)["pim"] == 1.0
        r = pim_corrected(gt, preds, layouts, mode)
        assert r["pim"] == 0.0 and r["n_unmatched_gt"] == r["n_instances"] == 6 and r["n_images"] == 3
    # the same images with each instance's own mask detected: corrected PiM is 1
    exact = [d for i, sqs in images.items() for d in dets(i, [square(size, size, *sq) for sq in sqs])]
    assert pim_corrected(gt, exact, layouts, "point")["pim"] == 1.0


def test_corrected_match_rules_by_hand(tmp_path):
    """Image 1: instance A is found (same class, conf 0.9, IoU 1) and hit, B has only a wrong-class detection:
    (1 + 0) / 2. Image 2: its one instance has a detection of conf 0.2 < 0.3 only: 0. Image 3: a detection of
    IoU 8/16 = 0.5 matches (kept at >= 0.5) and holds the point: 1; image 4: IoU 6/16 < 0.5: 0.
    PiM = (0.5 + 0 + 1 + 0) / 4."""
    size = 8
    a, b = (0, 4, 0, 4), (4, 8, 4, 8)
    gt = load_gt(gt_file(tmp_path / "gt.json", {1: [square(8, 8, *a), square(8, 8, *b)], 2: [square(8, 8, *a)],
                                                3: [square(8, 8, *a)], 4: [square(8, 8, *a)]}))
    preds = (dets(1, [square(8, 8, *a)]) + dets(1, [square(8, 8, *b)], category_id=18)
             + dets(2, [square(8, 8, *a)], scores=[0.2])
             + dets(3, [square(8, 8, 0, 4, 0, 2)]) + dets(4, [square(8, 8, 0, 3, 0, 2)]))
    layouts = [Layout(id=str(i), caption="", width=size, height=size, image_id=i,
                      instances=[Instance("person", (0, 0, 0.5, 0.5), ann_id=aid, point=(0.1, 0.1), scribble=[(0.1, 0.1)])
                                 for aid in aids])
               for i, aids in {1: [1, 2], 2: [3], 3: [4], 4: [5]}.items()]
    layouts[0].instances[1] = Instance("person", (0.5, 0.5, 1, 1), ann_id=2, point=(0.7, 0.7), scribble=[(0.7, 0.7)])
    r = pim_corrected(gt, preds, layouts, "point")
    per = {im["image_id"]: im for im in r["per_image"]}
    assert per[1]["instance_scores"] == [1.0, 0.0] and per[1]["unmatched"] == 1
    assert per[2]["instance_scores"] == [0.0] and per[3]["instance_scores"] == [1.0]
    assert per[4]["instance_scores"] == [0.0]
    assert r["pim"] == pytest.approx((0.5 + 0 + 1 + 0) / 4)
    assert r["n_unmatched_gt"] == 3 and r["n_instances"] == 5 and r["n_images"] == 4
    # the paper variant on the same files: class-agnostic, any confidence and IoU, unmatched dropped
    assert pim_paper(gt, preds, "point")["pim"] == pytest.approx(1.0)
