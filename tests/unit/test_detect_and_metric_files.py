"""End to end on two synthetic 512x512 images: tiny YOLO (the real ultralytics format and loading call) ->
COCO results file -> every metric file; the tiny open_clip model; the two commands; bad image sets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from instdiff.metrics import clip_models
from instdiff.detection import yolo_models
from instdiff.cli import main
from instdiff.detection.detect import run_detection
from instdiff.core.errors import InputError
from instdiff.core.layout import Instance, Layout, write_layouts
from instdiff.metrics import files
from instdiff.metrics.cocofiles import load_gt, load_results
from tests.unit.metrics_data import box_of, gt_file

COCO91 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
          35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62,
          63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    rng = np.random.default_rng(0)
    masks = {}
    for img_id in (1, 2):
        im = np.full((512, 512, 3), 200, np.uint8)
        m = np.zeros((512, 512), np.uint8)
        m[100:300, 150:400] = 1
        im[m == 1] = (220, 20, 20)  # a red block: phrase "red person"
        im += rng.integers(0, 20, im.shape, dtype=np.uint8)
        Image.fromarray(im).save(root / f"{img_id}.png")
        masks[img_id] = [m]
    gt_path = gt_file(root / "annotations_512.json", masks, size=(512, 512))
    (root / "done.json").write_text(json.dumps({"experiment": "colors", "n": 2,
                                                "images": [{"id": "1", "file": "1.png"}, {"id": "2", "file": "2.png"}]}))
    bx = box_of(masks[1][0])
    norm = (bx[0] / 512, bx[1] / 512, (bx[0] + bx[2]) / 512, (bx[1] + bx[3]) / 512)
    write_layouts(root / "colors.jsonl", [
        Layout(id=str(i), caption="", image_id=i, instances=[Instance(
            "red person", norm, category="person", category_id=1, ann_id=i, point=(0.5, 0.4),
            scribble=[(0.4, 0.3), (0.6, 0.5), (0.9, 0.9)])]) for i in (1, 2)])
    (root / "manifest.json").write_text(json.dumps({"run": "test", "seed": 1}))
    for name in ("yolov8m", "yolov8m-seg"):
        yolo_models.build_tiny(name, root / f"{name}.pt")
        run_detection(root / f"{name}.pt", root / "done.json", gt_path, root / f"{name}.json",
                      settings={"imgsz": 64}, layouts_path=root / "colors.jsonl", device="cpu")
    clip_models.build_tiny(root / "clip.pt")
    return root


@pytest.mark.parametrize("name", ["yolov8m", "yolov8m-seg"])
def test_detections_are_a_valid_coco_results_file(run, name):
    gt = load_gt(run / "annotations_512.json")
    dets = load_results(run / f"{name}.json", gt, need_masks=name.endswith("-seg"))
    assert dets, "the tiny model is initialised to detect something"
    for d in dets:
        assert d["image_id"] in (1, 2) and d["category_id"] in COCO91
        x, y, w, h = d["bbox"]
        assert -1 <= x and -1 <= y and w >= 0 and h >= 0 and x + w <= 513 and y + h <= 513
        assert 0.001 <= d["score"] <= 1
        if name.endswith("-seg"):
            assert d["segmentation"]["size"] == [512, 512] and isinstance(d["segmentation"]["counts"], str)
    for img in (1, 2):
        assert sum(d["image_id"] == img for d in dets) <= 300
    assert json.loads((run / f"{name}.pt.json").read_text())["sha256"]


def test_every_metric_file_has_values_and_the_manifest(run):
    a = dict(annotations=run / "annotations_512.json", done=run / "done.json", manifest=run / "manifest.json")
    docs = [
        files.coco_file(a["annotations"], run / "yolov8m.json", a["done"], a["manifest"], run / "m/coco_bbox.json", "bbox", "colors"),
        files.coco_file(a["annotations"], run / "yolov8m-seg.json", a["done"], a["manifest"], run / "m/coco_segm.json", "segm", "colors"),
    ]
    for variant in ("paper", "corrected"):
        docs.append(files.pim_file(a["annotations"], run / "yolov8m-seg.json", a["done"], run / "colors.jsonl",
                                   a["manifest"], run / f"m/pim_scribble_{variant}.json", "scribble", variant, "colors",
                                   run_seed=3))
    docs.append(files.attribute_file(a["annotations"], run / "colors.jsonl", a["done"], run / "clip.pt", a["manifest"],
                                     run / "m/attribute_gt.json", "colors", "colors", variant="gt", device="cpu"))
    docs.append(files.attribute_file(a["annotations"], run / "colors.jsonl", a["done"], run / "clip.pt", a["manifest"],
                                     run / "m/attribute_detected.json", "colors", "colors", variant="detected",
                                     detections=run / "yolov8m.json", device="cpu"))
    for doc in docs:
        assert doc["manifest"] == {"run": "test", "seed": 1}
        assert all(isinstance(v, float) for v in doc["values"].values())
    on_disk = json.loads((run / "m/attribute_gt.json").read_text())
    assert on_disk["values"]["n_instances"] == 2.0 and on_disk["n_images"] == 2
    assert 0 <= on_disk["values"]["accuracy"] <= 1 and -1 <= on_disk["values"]["clip_local"] <= 1
    paper = json.loads((run / "m/pim_scribble_paper.json").read_text())
    assert paper["settings"]["seed"] == files.pim_seed(3, "colors", "scribble")
    corrected = json.loads((run / "m/pim_scribble_corrected.json").read_text())
    assert corrected["values"]["n_pairs"] <= 2


def test_attribute_files_load_clip_once_and_write_what_each_variant_writes_alone(run, monkeypatch):
    """One job writes both attribute variants: one CLIP load, and each file byte for byte the file its variant's
    own call writes (the detections and confidence floor reach the detected variant only)."""
    a = dict(annotations=run / "annotations_512.json", done=run / "done.json", manifest=run / "manifest.json")
    alone = {}
    for variant in ("gt", "detected"):
        alone[variant] = run / f"alone/attribute_{variant}.json"
        files.attribute_file(a["annotations"], run / "colors.jsonl", a["done"], run / "clip.pt", a["manifest"],
                             alone[variant], "colors", "colors", variant=variant, device="cpu",
                             detections=run / "yolov8m.json" if variant == "detected" else None,
                             conf_threshold=0.25 if variant == "detected" else None)
    loads = []
    real_encoder = clip_models.encoder
    monkeypatch.setattr(clip_models, "encoder", lambda *args, **kw: loads.append(args) or real_encoder(*args, **kw))
    outs = {v: run / f"both/attribute_{v}.json" for v in ("gt", "detected")}
    files.attribute_files(a["annotations"], run / "colors.jsonl", a["done"], run / "clip.pt", a["manifest"], outs,
                          "colors", "colors", detections=run / "yolov8m.json", device="cpu", conf_threshold=0.25)
    assert len(loads) == 1
    for variant in ("gt", "detected"):
        assert outs[variant].read_bytes() == alone[variant].read_bytes(), variant
    assert json.loads(outs["detected"].read_text())["settings"]["conf_threshold"] == 0.25


def test_tiny_clip_loads_through_the_release_call(run):
    model, preprocess, tokenizer, arch = clip_models.load(run / "clip.pt")
    assert arch == clip_models.TINY_ARCH
    enc = clip_models.encoder(run / "clip.pt", device="cpu")
    feats = enc.encode_images([Image.new("RGB", (30, 10), "red")])
    assert feats.shape == (1, 32) and np.isfinite(feats).all()


def test_commands_print_one_json_object(run, capsys):
    assert main(["coco-eval", "--gt", str(run / "annotations_512.json"), "--pred", str(run / "yolov8m-seg.json"),
                 "--iou-type", "segm", "--images", str(run / "done.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"ap", "ap50", "ar", "stats"} and out["n_images"] == 2
    assert main(["pim", "--gt", str(run / "annotations_512.json"), "--pred", str(run / "yolov8m-seg.json"),
                 "--mode", "point", "--variant", "corrected", "--layouts", str(run / "colors.jsonl")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["variant"] == "corrected" and "pim" in out
    assert main(["pim", "--gt", str(run / "done.json"), "--pred", str(run / "yolov8m-seg.json"), "--mode", "point"]) == 2
    assert "not a COCO instances file" in capsys.readouterr().err


def test_coco_eval_needs_an_explicit_image_set(run, capsys):
    args = ["coco-eval", "--gt", str(run / "annotations_512.json"), "--pred", str(run / "yolov8m.json"),
            "--iou-type", "bbox"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no image set given" in err and "--images" in err and "--all-gt" in err
    assert main(args + ["--all-gt"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == "all-gt"
    with pytest.raises(SystemExit):  # both at once is an argparse usage error
        main(args + ["--all-gt", "--images", str(run / "done.json")])


def test_detection_refuses_images_that_are_not_the_experiments(run, tmp_path):
    gt = run / "annotations_512.json"
    one = tmp_path / "done.json"
    one.write_text(json.dumps({"experiment": "colors", "n": 1, "images": [{"id": "1", "file": str(run / "1.png")}]}))
    with pytest.raises(InputError, match="layouts"):
        run_detection(run / "yolov8m.pt", one, gt, tmp_path / "out.json", layouts_path=run / "colors.jsonl")
    Image.new("RGB", (640, 480)).save(tmp_path / "2.png")
    bad = tmp_path / "done2.json"
    bad.write_text(json.dumps({"experiment": "colors", "n": 2, "images": [
        {"id": "1", "file": str(run / "1.png")}, {"id": "2", "file": "2.png"}]}))
    with pytest.raises(InputError, match="640x480"):
        run_detection(run / "yolov8m.pt", bad, gt, tmp_path / "out.json", layouts_path=run / "colors.jsonl")
    (tmp_path / "2.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="not a readable image"):
        run_detection(run / "yolov8m.pt", bad, gt, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()
