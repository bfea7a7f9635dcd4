"""The synthetic smoke dataset and the real-image squash."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from instdiff.data import coco
from instdiff.generation import conditioning
from instdiff.core.errors import InputError
from instdiff.data.real_images import real_images_512
from instdiff.data.synthetic import CLASSES, RGB, SIZES, coco_categories, write_synthetic_coco


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = write_synthetic_coco(out, seed=5)
    return out, summary


def test_categories_are_the_80_coco_ones():
    cats = coco_categories()
    assert len(cats) == 80 and len({c["id"] for c in cats}) == 80
    assert cats[0] == {"supercategory": "person", "id": 1, "name": "person"}
    assert cats[-1]["id"] == 90 and cats[-1]["name"] == "toothbrush"
    assert 12 not in {c["id"] for c in cats}  # the 91-id space has gaps


def test_layout_and_cases(synth):
    out, summary = synth
    inst = json.loads((out / "annotations/instances_val2017.json").read_text())
    caps = json.loads((out / "annotations/captions_val2017.json").read_text())
    assert summary["n_images"] == 12 == len(inst["images"]) == len(list((out / "val2017").glob("*.jpg")))
    assert inst["categories"] == coco_categories()
    counts = {im["id"]: 0 for im in inst["images"]}
    for a in inst["annotations"]:
        counts[a["image_id"]] += 1
    assert 0 in counts.values() and 1 in counts.values() and max(counts.values()) > 30
    crowd = [a for a in inst["annotations"] if a["iscrowd"]]
    assert len(crowd) == 1 and isinstance(crowd[0]["segmentation"]["counts"], list)
    assert [im["id"] for im in inst["images"]] != sorted(counts)  # shuffled like the official file
    assert {c["image_id"] for c in caps["annotations"]} == set(counts)
    for im in inst["images"]:
        with Image.open(out / "val2017" / im["file_name"]) as img:
            assert img.size == (im["width"], im["height"]) and img.format == "JPEG"
    sizes = {(im["width"], im["height"]) for im in inst["images"]}
    assert sizes <= set(SIZES) and any(w > h for w, h in sizes) and any(w < h for w, h in sizes)
    coco.load_instances(out / "annotations/instances_val2017.json")  # valid COCO


def test_instances_painted_in_their_ann_id_colour(synth):
    out, _ = synth
    inst = json.loads((out / "annotations/instances_val2017.json").read_text())
    by_img = {}
    for a in inst["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    img_id, anns = next((k, v) for k, v in by_img.items() if len(v) == 1)
    im = next(i for i in inst["images"] if i["id"] == img_id)
    pixels = np.asarray(Image.open(out / "val2017" / im["file_name"]).convert("RGB"), dtype=np.float32)
    a = anns[0]
    mask = coco.ann_to_mask(a["segmentation"], im["height"], im["width"]).astype(bool)
    assert mask.sum() == pytest.approx(a["area"])
    colour = coco.COLORS[a["id"] % 8]
    mean = pixels[mask].mean(axis=0)
    dists = {name: np.linalg.norm(mean - np.asarray(rgb)) for name, rgb in RGB.items()}
    if coco.TEXTURES[a["id"] % 8] != "glass":  # glass blends with the background
        assert min(dists, key=dists.get) == colour


def test_each_category_has_one_shape_and_one_colour(synth):
    """Learnable classes: a category always comes with the same colour / texture index and the same outline."""
    out, _ = synth
    inst = json.loads((out / "annotations/instances_val2017.json").read_text())
    names = {c["id"]: c["name"] for c in inst["categories"]}
    order = list(CLASSES)
    used = set()
    for a in inst["annotations"]:
        name = names[a["category_id"]]
        assert name in CLASSES and a["id"] % 8 == order.index(name), (name, a["id"])
        used.add(name)
        if not a["iscrowd"]:
            n_vertices = len(a["segmentation"][0]) // 2
            assert n_vertices == {"rectangle": 4, "ellipse": 24, "triangle": 3, "diamond": 4, "star": 10,
                                  "cross": 12, "hexagon": 6, "trapezoid": 4}[CLASSES[name]]
    assert len(used) >= 6
    assert len(set(CLASSES.values())) == len(CLASSES)


def test_shapes_do_not_overlap(synth):
    """Non-overlapping instances: a point test at a box centre sees the instance it asks about."""
    out, _ = synth
    inst = json.loads((out / "annotations/instances_val2017.json").read_text())
    sizes = {im["id"]: (im["height"], im["width"]) for im in inst["images"]}
    by_img = {}
    for a in inst["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    for img_id, anns in by_img.items():
        total = sum(coco.ann_to_mask(a["segmentation"], *sizes[img_id]).astype(int) for a in anns)
        assert total.max() <= 1, img_id


def test_deterministic_in_seed(synth, tmp_path):
    out, _ = synth
    again = tmp_path / "again"
    write_synthetic_coco(again, seed=5)
    for rel in ("annotations/instances_val2017.json", "annotations/captions_val2017.json"):
        assert (again / rel).read_bytes() == (out / rel).read_bytes()
    for p in (out / "val2017").iterdir():
        assert (again / "val2017" / p.name).read_bytes() == p.read_bytes()
    other = tmp_path / "other"
    write_synthetic_coco(other, seed=6, n_images=4)
    assert (other / "annotations/instances_val2017.json").read_bytes() != (out / "annotations/instances_val2017.json").read_bytes()


def test_flows_through_the_data_stage(synth, tmp_path):
    out, _ = synth
    a512 = tmp_path / "a512.json"
    coco.derive_annotations_512(out / "annotations/instances_val2017.json", a512)
    # COCO-like sizes: the squash changes every image (a 640x640 one keeps its aspect but not its size)
    report = coco.compare_annotations(a512, out / "annotations/instances_val2017.json")
    assert report["images"]["n_size_differs"] == 12 and report["annotations"]["n_bbox_beyond_tolerance"] > 0
    assert report["annotations"]["mask_iou"]["min"] > 0.9  # ... yet the masks, compared at 512x512, agree
    lays = coco.build_layouts(a512, out / "annotations/captions_val2017.json",
                              {"use_captions": True, "attributes": ["colors"]}, 2024, "colors")
    assert len(lays) == 12 and max(len(lay.instances) for lay in lays) == 30
    assert any(lay.caption.startswith("An empty grey canvas.") or lay.caption.startswith("Nothing") for lay in lays)
    g = conditioning.grounding_inputs(lays[0], "mask", lambda p: np.zeros((len(p), 768)))
    assert g["masks"].sum() == len(lays[0].instances)


def test_real_images_squash_and_done_file(synth, tmp_path):
    out, _ = synth
    dest = tmp_path / "images" / "real"
    done = real_images_512(out / "annotations/instances_val2017.json", out / "val2017", dest, max_images=3)
    assert done["experiment"] == "real" and done["n"] == 3 and len(done["images"]) == 3
    assert json.loads((dest / "done.json").read_text()) == done
    ids = [r["id"] for r in done["images"]]
    assert ids == sorted(ids, key=int)
    for r in done["images"]:
        with Image.open(dest / r["file"]) as img:
            assert img.size == (512, 512) and img.format == "PNG" and r["file"] == f"{r['id']}.png"
    assert sorted(p.name for p in dest.iterdir()) == sorted([r["file"] for r in done["images"]] + ["done.json"])


def test_real_images_non_square_are_squashed(tmp_path):
    Image.new("RGB", (640, 480), (10, 200, 30)).save(tmp_path / "a.jpg")
    inst = {"images": [{"id": 4, "file_name": "a.jpg", "width": 640, "height": 480}], "annotations": [],
            "categories": []}
    done = real_images_512(inst, tmp_path, tmp_path / "o")
    with Image.open(tmp_path / "o" / "4.png") as img:
        assert img.size == (512, 512) and img.getpixel((256, 256)) == (10, 200, 30)
    assert done["images"] == [{"id": "4", "file": "4.png"}]


def test_corrupt_image_names_the_file_and_leaves_nothing(synth, tmp_path):
    out, _ = synth
    inst = json.loads((out / "annotations/instances_val2017.json").read_text())
    src = tmp_path / "val2017"
    src.mkdir()
    for im in inst["images"]:
        (src / im["file_name"]).write_bytes((out / "val2017" / im["file_name"]).read_bytes())
    victim = sorted(inst["images"], key=lambda i: i["id"])[2]["file_name"]
    (src / victim).write_bytes((src / victim).read_bytes()[:300])  # truncated JPEG
    dest = tmp_path / "real"
    with pytest.raises(InputError) as err:
        real_images_512(inst, src, dest)
    assert victim in str(err.value)
    assert list(dest.iterdir()) == []  # no image, no done file, no staging folder
    (src / victim).write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot be decoded"):
        real_images_512(inst, src, dest)
    (src / victim).unlink()
    with pytest.raises(InputError, match="does not exist"):
        real_images_512(inst, src, dest)
    assert list(dest.iterdir()) == []
