"""JPEG-75 copies of an experiment's images: same ids and layouts, PIL's quality-75 encoder, nothing regenerated."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from instdiff.data.jpeg_variant import copy_layouts, jpeg_copies
from tests.report_helpers import write_images, write_layouts


def test_copies_decode_to_the_pil_quality_75_round_trip(tmp_path):
    src = write_images(tmp_path / "box", "box", [1, 2, 3], size=48)
    doc = jpeg_copies(src, tmp_path / "box_jpeg75" / "done.json", "box_jpeg75")
    on_disk = json.loads((tmp_path / "box_jpeg75" / "done.json").read_text())
    assert on_disk == doc and doc["n"] == 3 and doc["jpeg_quality"] == 75 and doc["experiment"] == "box_jpeg75"
    for rec in doc["images"]:
        png = Image.open(tmp_path / "box" / f"{rec['id']}.png").convert("RGB")
        buf = io.BytesIO()
        png.save(buf, format="JPEG", quality=75)
        copy = Image.open(tmp_path / "box_jpeg75" / rec["file"])
        assert copy.format == "JPEG" and rec["file"] == f"{rec['id']}.jpg"
        assert np.array_equal(np.asarray(copy.convert("RGB")), np.asarray(Image.open(buf).convert("RGB")))
        assert not np.array_equal(np.asarray(copy.convert("RGB")), np.asarray(png))  # lossy: not the PNG


def test_layouts_are_the_sources(tmp_path):
    write_layouts(tmp_path / "box.jsonl", [1, 2])
    copy_layouts(tmp_path / "box.jsonl", tmp_path / "out" / "box_jpeg75.jsonl")
    assert (tmp_path / "out" / "box_jpeg75.jsonl").read_bytes() == (tmp_path / "box.jsonl").read_bytes()
