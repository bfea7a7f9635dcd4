"""The null model: grey images of the layouts (data stage) and the report's floor helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.core.io import write_jsonl
from instdiff.core.layout import Instance, Layout
from instdiff.data.null_images import GREY, write_null_images
from instdiff.metrics.null_model import null_experiment_for, null_experiments, null_is_close


def test_grey_images_of_every_layout(tmp_path):
    layouts = [Layout(id="139", caption="a", width=512, height=512, image_id=139,
                      instances=[Instance("person", (0.1, 0.1, 0.5, 0.5), ann_id=1)]),
               Layout(id="285", caption="b", width=64, height=32, image_id=285, instances=[])]
    write_jsonl(tmp_path / "layouts.jsonl", [lay.to_dict() for lay in layouts])
    done = write_null_images(tmp_path / "layouts.jsonl", tmp_path / "images", "null_model")
    assert done == json.loads((tmp_path / "images" / "done.json").read_text())
    assert [r["id"] for r in done["images"]] == ["139", "285"] and done["n"] == done["n_images"] == 2
    for rec, size in zip(done["images"], [(512, 512), (64, 32)]):
        with Image.open(tmp_path / "images" / rec["file"]) as im:
            assert im.format == "PNG" and im.size == size
            assert np.all(np.asarray(im.convert("RGB")) == GREY)
    write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(InputError, match="no layouts"):
        write_null_images(tmp_path / "empty.jsonl", tmp_path / "e", "x")


def test_which_null_experiment_is_a_metrics_floor():
    exps = {"box": {"kind": "generated", "metrics": ["coco_bbox"]},
            "null_model": {"kind": "blank", "attributes": ["colors"], "metrics": ["coco_bbox", "pim_point", "attribute"]},
            "null_textures": {"kind": "blank", "attributes": ["textures"], "metrics": ["attribute"]}}
    assert null_experiments(exps) == ["null_model", "null_textures"]
    assert null_experiment_for(exps, "coco_bbox") == "null_model"
    assert null_experiment_for(exps, "pim_point_corrected") == "null_model"
    assert null_experiment_for(exps, "attribute_detected", "textures") == "null_textures"
    assert null_experiment_for(exps, "attribute_gt", "colors") == "null_model"
    assert null_experiment_for(exps, "coco_segm") is None and null_experiment_for(exps, "fid") is None


def test_close_floor_is_flagged():
    assert null_is_close(99.2, 97.0)          # the smoke's paper PiM on noise vs real images
    assert not null_is_close(1.0, 97.0)       # a floor far below
    assert null_is_close(30.0, 60.0) and not null_is_close(29.9, 60.0)   # half the real score
    assert null_is_close(20.0, 60.0, null_high=45.0, real_low=40.0)     # the intervals meet
    assert not null_is_close(400.0, 20.0, higher_is_better=False)        # FID
    assert not null_is_close(float("nan"), 50.0)
