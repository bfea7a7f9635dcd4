"""Experiments of kind external: images made elsewhere, checked against the layouts they follow and scored by the
same code as ours. Inputs come from the real writers: the synthetic COCO set, the 512x512 annotations, the box
layouts of the data stage, the real-image writer (the smoke's upper-bound images), the shipped tiny detector."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.core.layout import read_layouts
from instdiff.data.coco import annotations_512, write_experiment_layouts
from instdiff.data.external import external_images, external_rows, row_label
from instdiff.data.jpeg_variant import copy_layouts
from instdiff.data.real_images import real_images_512
from instdiff.data.synthetic import write_synthetic_coco
from instdiff.detection import yolo_models
from instdiff.detection.detect import run_detection
from instdiff.metrics.files import coco_file
from instdiff.metrics.registry import scored_attribute

# The smoke config's detection section (validator mode: its rect batches depend on the order of done.json).
DETECTION = {"conf": 0.001, "iou": 0.7, "max_det": 300, "imgsz": 256, "mode": "validator", "mask_path": "v8.0.119",
             "batch": 16}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small run as the workflow writes it: annotations, box layouts, the real images squashed to 512x512."""
    root = tmp_path_factory.mktemp("external")
    write_synthetic_coco(root / "source", seed=3, n_images=6)
    ann = root / "data" / "annotations_512.json"
    annotations_512(root / "source" / "annotations" / "instances_val2017.json", ann)
    write_experiment_layouts(ann, root / "source" / "annotations" / "captions_val2017.json",
                             root / "layouts" / "box.jsonl", {"use_captions": True, "attributes": []}, 2024, "box")
    real_images_512(ann, root / "source" / "val2017", root / "images" / "real", experiment="real")
    return root


def _hand_in(run, tmp_path, name="handin"):
    """What a user hands in: the images in a folder of their own, named by layout id."""
    folder = tmp_path / name
    folder.mkdir()
    for png in (run / "images" / "real").glob("*.png"):
        shutil.copyfile(png, folder / png.name)
    return folder


def _external(run, folder, tmp_path, name="mymodel"):
    layouts = tmp_path / "layouts" / f"{name}.jsonl"
    copy_layouts(run / "layouts" / "box.jsonl", layouts)
    return external_images(layouts, folder, tmp_path / "images" / name, name, "My model", "box")


def test_real_images_handed_in_for_the_box_layouts_score_exactly_the_real_rows_ap(run, tmp_path):
    done = _external(run, _hand_in(run, tmp_path), tmp_path)
    assert done["n"] == 6 and done["external"]["row"] == "My model (external images)"
    model = tmp_path / "yolov8m.pt"
    yolo_models.build_tiny("yolov8m", model)
    ann = run / "data" / "annotations_512.json"
    scores = {}
    for name, images in (("real", run / "images" / "real"), ("mymodel", tmp_path / "images" / "mymodel")):
        dets = tmp_path / f"{name}.json"
        run_detection(model, images / "done.json", ann, dets, settings=DETECTION, device="cpu")
        scores[name] = coco_file(ann, dets, images / "done.json", None, tmp_path / f"{name}_bbox.json", "bbox", name,
                                 bootstrap_resamples=20)
    real, ext = scores["real"], scores["mymodel"]
    assert real["values"]["ap"] > 0, "the trained tiny detector finds the synthetic objects"
    assert ext["values"] == real["values"] and ext["per_category"] == real["per_category"]
    assert ext["intervals"] == real["intervals"] and ext["n_images"] == real["n_images"] == 6


def test_the_copies_keep_the_bytes_and_the_layout_order(run, tmp_path):
    folder = _hand_in(run, tmp_path)
    first = sorted(folder.glob("*.png"))[0]
    Image.open(first).convert("RGB").save(folder / f"{first.stem}.jpg", quality=90)  # a JPEG hand-in stays a JPEG
    first.unlink()
    done = _external(run, folder, tmp_path)
    ids = [lay.id for lay in read_layouts(run / "layouts" / "box.jsonl")]
    assert [r["id"] for r in done["images"]] == sorted(ids, key=int)
    for rec in done["images"]:
        src = folder / rec["file"]
        assert (tmp_path / "images" / "mymodel" / rec["file"]).read_bytes() == src.read_bytes()
    assert json.loads((tmp_path / "images" / "mymodel" / "done.json").read_text()) == done


def test_every_problem_of_a_hand_in_is_named_in_one_error(run, tmp_path):
    folder = _hand_in(run, tmp_path)
    pngs = sorted(folder.glob("*.png"))
    pngs[0].unlink()                                                   # a missing id
    (folder / "notes.txt").write_text("hi")                            # an extra file
    (folder / "999999999.png").write_bytes(pngs[5].read_bytes())       # an image of no layout
    pngs[1].write_bytes(pngs[1].read_bytes()[:200])                    # truncated: does not decode
    Image.new("RGB", (640, 480)).save(pngs[2])                         # the wrong size
    shutil.copyfile(pngs[3], folder / f"{pngs[3].stem}.jpg")           # two images for one layout
    with pytest.raises(InputError) as err:
        _external(run, folder, tmp_path)
    msg = str(err.value)
    for name in (pngs[0].stem, "notes.txt", "999999999.png", pngs[1].name, f"{pngs[2].name} is 640x480",
                 f"{pngs[3].stem}.jpg + {pngs[3].name}"):
        assert name in msg, (name, msg)
    assert str(folder) in msg and "never resized" in msg
    assert not (tmp_path / "images" / "mymodel" / "done.json").exists()
    assert not list((tmp_path / "images" / "mymodel").glob("*.png")), "a refused hand-in leaves nothing behind"


def test_a_missing_folder_is_named(run, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        _external(run, tmp_path / "nowhere", tmp_path)


def test_rows_and_the_attribute_list_follow_the_layouts_experiment():
    experiments = {
        "textures": {"kind": "generated", "attributes": ["textures"], "metrics": ["attribute"]},
        "theirs": {"kind": "external", "layouts": "textures", "images": "x", "label": "Their model"},
    }
    assert scored_attribute(experiments, "theirs") == "textures"
    assert row_label(experiments["theirs"]) == "Their model (external images)"
    assert external_rows(experiments) == [
        {"experiment": "theirs", "label": "Their model (external images)", "layouts": "textures"}]


def _validated(entry: dict) -> dict:
    from tests.faults.test_config_typos import _load, validate_like_the_workflow

    config = _load("smoke.yaml")
    config["experiments"]["theirs"] = entry
    validate_like_the_workflow(config)
    return config


def test_the_schema_takes_an_external_experiment_and_refuses_half_of_one():
    from snakemake.exceptions import WorkflowError

    entry = {"kind": "external", "images": "handin", "layouts": "box", "label": "Their model"}
    _validated(entry)  # metrics may be left out: they default to the layouts experiment's
    for missing in ("images", "layouts", "label"):
        with pytest.raises(WorkflowError):
            _validated({k: v for k, v in entry.items() if k != missing})
    with pytest.raises(WorkflowError):  # images and label belong to external experiments only
        _validated({"kind": "generated", "images": "handin", "label": "x", "metrics": []})
    with pytest.raises(WorkflowError):  # and another kind still takes its layouts from coco or llm
        _validated({"kind": "generated", "layouts": "box", "metrics": []})
