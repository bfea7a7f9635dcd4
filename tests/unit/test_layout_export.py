"""The layouts file's version and `instdiff layouts`: our jsonl, GLIGEN's input and a COCO file, on layouts small
enough to check by hand, written by the real writers (write_layouts, the data stage's layout builder)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from instdiff.cli import main
from instdiff.core.errors import InputError
from instdiff.core.layout import LAYOUT_FORMAT_VERSION, Instance, Layout, read_layouts, write_layouts
from instdiff.data.layout_export import coco_dataset, export_layouts
from instdiff.data.location_inputs import encode_mask
from instdiff.generation.image_records import layout_sha256


def _mask(y0, y1, x0, x1):
    m = np.zeros((512, 512), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


@pytest.fixture()
def layouts():
    """Two scenes on the 512x512 canvas: a person in the lower middle (with its mask), a dog and a cat."""
    return [
        Layout(id="139", caption="a person standing", image_id=139, instances=[
            Instance("person", (0.25, 0.5, 0.75, 1.0), category="person", category_id=1, ann_id=10,
                     mask=encode_mask(_mask(256, 512, 128, 384)))]),
        Layout(id="285", caption="a dog and a cat", image_id=285, instances=[
            Instance("red dog", (0.0, 0.0, 0.5, 0.25), category="dog", category_id=18, ann_id=11),
            Instance("blue cat", (0.5, 0.5, 1.0, 1.0), category="cat", category_id=17, ann_id=12, iscrowd=True)]),
    ]


@pytest.fixture()
def run(tmp_path, layouts):
    """A run folder as the workflow leaves it, and its config."""
    write_layouts(tmp_path / "results" / "myrun" / "layouts" / "box.jsonl", layouts)
    config = {"run": "myrun", "experiments": {
        "box": {"kind": "generated", "metrics": []},
        "theirs": {"kind": "external", "layouts": "box", "images": "x", "label": "Theirs"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def _cli(run, experiment, fmt, capsys):
    out = run / f"out.{fmt}"
    code = main(["layouts", "--configfile", str(run / "config.yaml"), "--experiment", experiment, "--format", fmt,
                 "--out", str(out), "--results", str(run / "results")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_layouts"] == 2 and summary["n_instances"] == 3
    return out


def test_gligen_phrases_with_normalised_xyxy_boxes(run, capsys):
    lines = [json.loads(s) for s in _cli(run, "box", "gligen", capsys).read_text().splitlines()]
    assert lines[0] == {"id": "139", "file_name": "139.png", "prompt": "a person standing", "phrases": ["person"],
                        "locations": [[0.25, 0.5, 0.75, 1.0]], "width": 512, "height": 512}
    assert lines[1]["phrases"] == ["red dog", "blue cat"]
    assert lines[1]["locations"] == [[0.0, 0.0, 0.5, 0.25], [0.5, 0.5, 1.0, 1.0]]


def test_coco_file_loads_in_pycocotools_with_pixel_boxes_and_masks(run, capsys):
    from pycocotools.coco import COCO

    coco = COCO(str(_cli(run, "box", "coco", capsys)))
    assert sorted(coco.imgs) == [139, 285] and coco.imgs[139]["file_name"] == "139.png"
    person, dog, cat = (coco.anns[i] for i in (10, 11, 12))
    assert person["bbox"] == [128.0, 256.0, 256.0, 256.0] and person["category_id"] == 1
    assert person["area"] == 256 * 256 and (coco.annToMask(person) == _mask(256, 512, 128, 384)).all()
    assert dog["bbox"] == [0.0, 0.0, 256.0, 128.0] and dog["area"] == 256 * 128 and dog["image_id"] == 285
    assert cat["bbox"] == [256.0, 256.0, 256.0, 256.0] and cat["iscrowd"] == 1
    assert {c["id"]: c["name"] for c in coco.cats.values()} == {1: "person", 17: "cat", 18: "dog"}
    assert coco.getAnnIds(imgIds=[285], catIds=[18]) == [11]


def test_jsonl_is_our_layouts_file_at_the_current_version(run, layouts, capsys):
    out = _cli(run, "theirs", "jsonl", capsys)  # an external experiment: the layouts it follows
    assert [json.loads(s)["format_version"] for s in out.read_text().splitlines()] == [LAYOUT_FORMAT_VERSION] * 2
    assert [lay.to_dict() for lay in read_layouts(out)] == [lay.to_dict() for lay in layouts]


def test_layouts_without_coco_ids_get_their_own(layouts):
    for lay in layouts:
        lay.image_id = None
        for inst in lay.instances:
            inst.category_id, inst.ann_id = None, None
    data = coco_dataset(layouts)
    assert [img["id"] for img in data["images"]] == [1, 2]
    assert [img["layout_id"] for img in data["images"]] == ["139", "285"]
    assert [a["id"] for a in data["annotations"]] == [1, 2, 3]
    assert [c["name"] for c in data["categories"]] == ["person", "dog", "cat"]


def test_the_coco_export_of_the_protocols_layouts_gives_back_the_annotation_boxes(tmp_path):
    from pycocotools.coco import COCO

    from instdiff.data.coco import annotations_512, write_experiment_layouts
    from instdiff.data.synthetic import write_synthetic_coco

    write_synthetic_coco(tmp_path / "source", seed=5, n_images=4)
    ann = tmp_path / "annotations_512.json"
    annotations_512(tmp_path / "source" / "annotations" / "instances_val2017.json", ann)
    write_experiment_layouts(ann, None, tmp_path / "box.jsonl", {"use_captions": False, "attributes": []}, 1, "box")
    export_layouts(tmp_path / "box.jsonl", "coco", tmp_path / "box_coco.json")
    ours, gt = COCO(str(tmp_path / "box_coco.json")), COCO(str(ann))
    assert ours.anns and set(ours.anns) <= set(gt.anns)
    for ann_id, a in ours.anns.items():
        assert a["bbox"] == pytest.approx(gt.anns[ann_id]["bbox"], abs=1e-6)
        assert a["category_id"] == gt.anns[ann_id]["category_id"] and a["image_id"] == gt.anns[ann_id]["image_id"]


def test_a_missing_layouts_file_names_the_command_that_writes_it(run, capsys):
    (run / "results" / "myrun" / "layouts" / "box.jsonl").unlink()
    with pytest.raises(InputError, match=r"snakemake .*layouts/box\.jsonl"):
        export_layouts_cli(run)
    assert main(["layouts", "--configfile", str(run / "config.yaml"), "--experiment", "nope", "--format", "coco",
                 "--out", str(run / "x.json")]) == 2
    assert "no experiment 'nope'" in capsys.readouterr().err


def export_layouts_cli(run):
    from instdiff.commands.layouts import layouts_file

    return layouts_file(str(run / "config.yaml"), "box", str(run / "results"))


def test_format_version_is_written_read_and_refused_when_newer(tmp_path, layouts):
    path = tmp_path / "l.jsonl"
    write_layouts(path, layouts)
    rows = [json.loads(s) for s in path.read_text().splitlines()]
    assert all(r["format_version"] == LAYOUT_FORMAT_VERSION for r in rows)
    # the version is the file's, not the layout's: an image's layout hash does not move with it
    assert layout_sha256(read_layouts(path)[0]) == layout_sha256(layouts[0])
    del rows[0]["format_version"]  # a file written before the version was recorded reads as version 1
    rows[1]["format_version"] = LAYOUT_FORMAT_VERSION + 1
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InputError, match=r"l\.jsonl:2 \(field 'format_version'\): layout of format_version 2"):
        read_layouts(path)
