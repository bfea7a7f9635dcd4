"""The null model: blank mid-grey images of an experiment's layouts (experiment kind ``blank``).

A metric's score on images that hold nothing is its floor under our detector and encoder: a PiM that gives blank
images 99 measures the detector, not the generator. The null experiment is written like a generated one, so
detection and every metric treat it alike: ``{out}/{id}.png``, one (R, G, B) = (128, 128, 128) PNG of the layout's
canvas size per layout, and last ``{out}/done.json`` = ``{"experiment", "images": [{"id", "file"}], "n",
"n_images"}`` in layout order. Nothing is drawn from a random generator: the images are the same on every run.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from PIL import Image

from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path, write_json
from instdiff.core.layout import read_layouts

log = logging.getLogger(__name__)

GREY = 128  # mid-grey of 8-bit RGB


def grey_png(width: int, height: int, grey: int = GREY) -> bytes:
    """One uniform RGB PNG of ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("RGB", (int(width), int(height)), (grey, grey, grey)).save(buf, format="PNG")
    return buf.getvalue()


def write_null_images(layouts_path: str | Path, out_dir: str | Path, experiment: str, grey: int = GREY) -> dict:
    """A grey image per layout of ``layouts_path`` (at its canvas size) in ``out_dir``, then ``done.json``."""
    layouts = read_layouts(layouts_path)
    if not layouts:
        raise InputError(layouts_path, "the layout file lists no layouts", "rebuild it with the 'layouts' rule")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs: dict[tuple[int, int], bytes] = {}  # every canvas size is encoded once (512 x 512 for all COCO layouts)
    records = []
    for lay in layouts:
        size = (int(lay.width), int(lay.height))
        if size not in pngs:
            pngs[size] = grey_png(*size, grey=grey)
        name = f"{lay.id}.png"
        with atomic_path(out_dir / name) as tmp:
            tmp.write_bytes(pngs[size])
        records.append({"id": str(lay.id), "file": name})
    done = {"experiment": experiment, "images": records, "n": len(records), "n_images": len(records)}
    write_json(out_dir / "done.json", done)
    log.info("wrote %d grey (%d) images to %s", len(records), grey, out_dir)
    return done
