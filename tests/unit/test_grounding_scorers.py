"""Scorer output formats round-trip to the canonical frame; CogVLM answers parse; tiny Grounding DINO / OWLv2 / CLIP
run end to end on real images through the shipped loading code."""

import json

import numpy as np
import pytest
from PIL import Image

from instdiff.llm.scorers.base import Detection, layout_queries
from instdiff.llm.scorers.cogvlm import GROUNDING_QUERY, format_group, parse_grounding, to_cogvlm_text
from instdiff.llm.scorers.labels import to_category
from instdiff.core.layout import (
    Instance,
    Layout,
    cogvlm_to_norm_xyxy,
    cxcywh_to_xyxy,
    denormalize_xyxy,
    norm_xyxy_to_cogvlm,
    normalize_xyxy,
    write_layouts,
)

BOXES = [(0.1, 0.2, 0.5, 0.9), (0.0, 0.0, 1.0, 1.0), (0.25, 0.125, 0.375, 0.5)]


@pytest.mark.parametrize("box", BOXES)
def test_grounding_dino_formats_round_trip(box):
    x0, y0, x1, y1 = box
    assert cxcywh_to_xyxy(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)) == pytest.approx(box)
    # post-processed: absolute corners of target_sizes=(H, W)
    w, h = 640, 480
    assert normalize_xyxy(denormalize_xyxy(box, w, h), w, h) == pytest.approx(box)


@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("size", [(640, 480), (300, 700), (512, 512)])
def test_owlv2_padded_square_round_trip(box, size):
    w, h = size
    px = denormalize_xyxy(box, w, h)  # pixel corners of the padded max(W, H) square are pixel corners of the image
    assert normalize_xyxy(px, w, h) == pytest.approx(box)
    # A box touching the bottom-right corner of a landscape image ends at y = H, inside the padded square (side W).
    if box == (0.0, 0.0, 1.0, 1.0) and w > h:
        assert px[3] == h < max(w, h)


@pytest.mark.parametrize("box", BOXES)
def test_cogvlm_text_round_trip(box):
    text = to_cogvlm_text([Detection("traffic light", box)])
    (det,) = parse_grounding(text)
    assert det.label == "traffic light"
    assert det.box == pytest.approx(box, abs=1.001e-3)  # the 0..999 grid
    assert cogvlm_to_norm_xyxy(norm_xyxy_to_cogvlm(box)) == pytest.approx(box, abs=1.001e-3)


def test_cogvlm_parses_every_box_of_a_group_and_multi_word_labels():
    text = (
        "In the park, a man [[100,200,300,999]] is riding a red bicycle "
        "[[010,020,030,040;050,060,070,080]] next to two traffic lights [[1,2,3,4]]. A building[[5,6,7,8]]"
    )
    dets = parse_grounding(text)
    assert [d.label for d in dets] == ["man", "red bicycle", "red bicycle", "traffic lights", "building"]
    assert dets[2].box == pytest.approx((0.05, 0.06, 0.07, 0.08))
    assert [to_category(d.label) for d in dets] == ["person", "bicycle", "bicycle", "traffic light", "building"]
    assert format_group([(1, 2, 3, 4), (5, 6, 7, 8)]) == "[[001,002,003,004;005,006,007,008]]"
    assert "[[x0,y0,x1,y1]]" in GROUNDING_QUERY


def layout():
    return Layout(
        id="desc_001",
        caption="A dog and a person in a park.",
        instances=[
            Instance("a brown dog", (0.1, 0.5, 0.4, 0.9), category="dog"),
            Instance("a person jogging", (0.5, 0.1, 0.8, 0.9), category="person"),
            Instance("a brown dog", (0.6, 0.6, 0.9, 0.9), category="dog"),
        ],
    )


def test_queries_are_distinct_phrases_labelled_by_category():
    qs = layout_queries(layout())
    assert [(q.phrase, q.label) for q in qs] == [("a brown dog", "dog"), ("a person jogging", "person")]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from instdiff.llm.scorers.tiny import build_tiny_scorer
    from instdiff.metrics.clip_models import build_tiny

    root = tmp_path_factory.mktemp("tiny")
    build_tiny(root / "clip" / "tiny-clip.safetensors")
    return {kind: build_tiny_scorer(kind, root / kind) for kind in ("grounding_dino", "owlv2")} | {
        "clip": root / "clip" / "tiny-clip.safetensors"}


@pytest.fixture()
def images(tmp_path):
    lay = layout()
    write_layouts(tmp_path / "layouts.jsonl", [lay])
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(tmp_path / f"{lay.id}.png")  # not square
    return tmp_path


@pytest.mark.parametrize("kind, settings", [("grounding_dino", {"box_threshold": 0.0, "text_threshold": 0.0}), ("owlv2", {"threshold": 0.0})])
def test_tiny_scorer_end_to_end(tiny_models, images, kind, settings):
    from instdiff.llm.scorers.run import score_images
    from instdiff.core.layout import read_layouts
    from instdiff.metrics.grounding_iou import score_detections

    out = images / f"{kind}.jsonl"
    rows = score_images(images / "layouts.jsonl", images, out, kind, {"kind": kind, "model": str(tiny_models[kind]), **settings}, device="cpu")
    assert [r["id"] for r in rows] == ["desc_001"] and json.loads(out.read_text().splitlines()[0])["id"] == "desc_001"
    dets = rows[0]["detections"]
    assert dets, "threshold 0 keeps every box"
    assert {d["label"] for d in dets} <= {"dog", "person"}
    assert all(0.0 <= v <= 1.0 for d in dets for v in d["box"])
    scored = score_detections(read_layouts(images / "layouts.jsonl"), rows)
    for ref in ("intended", "given"):
        s = scored[ref]
        assert s["n_gt"] == 3 and s["n_pred"] == len(dets)
        assert 0.0 <= s["recall"] <= 1.0 and 0.0 <= s["auc"] <= 1.0


def test_missing_image_is_a_clear_error(tiny_models, tmp_path):
    from instdiff.core.errors import InputError
    from instdiff.llm.scorers.run import score_images

    write_layouts(tmp_path / "layouts.jsonl", [layout()])
    with pytest.raises(InputError, match="images are missing"):
        score_images(tmp_path / "layouts.jsonl", tmp_path, tmp_path / "o.jsonl", "owlv2", {"kind": "owlv2", "model": str(tiny_models["owlv2"])})


def test_tiny_clip_scores_and_ci(tiny_models, images):
    from instdiff.metrics.clipscore import clip_scores, load_clip, mean_with_ci

    model, preprocess, tokenizer = load_clip({"weights": str(tiny_models["clip"])})
    img = images / "desc_001.png"
    scores = clip_scores([img, img, img], ["a dog", "a dog", "a cat"], model, preprocess, tokenizer, batch_size=2)
    assert scores.shape == (3,) and np.all(np.abs(scores) <= 1.0 + 1e-6)
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)  # batching does not change a score
    ci = mean_with_ci([0.2, 0.3, 0.4], n_boot=500, seed=1)
    assert ci["mean"] == pytest.approx(0.3) and ci["sd"] == pytest.approx(0.1)
    assert 0.2 - 1e-9 <= ci["ci_low"] <= 0.3 <= ci["ci_high"] <= 0.4 + 1e-9
