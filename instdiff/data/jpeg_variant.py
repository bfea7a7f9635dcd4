"""JPEG copies of an experiment's images: the format the paper scored, as an experiment of its own.

The original ``eval_local.py`` saved every generated image as ``.jpg`` with PIL's default quality (75), and all of
the paper's numbers were measured on those files. An experiment of ``kind: jpeg_copy`` (``source: <experiment>``)
holds JPEG copies of the SAME images (nothing is regenerated), written with PIL at ``quality``, the very encoder
the original used, and the same layouts; every metric then scores it exactly as it scores the source, so the
tables can put PNG and JPEG-75 side by side.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from tqdm import tqdm

from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path, write_json
from instdiff.metrics.cocofiles import read_done

log = logging.getLogger(__name__)

JPEG_QUALITY = 75  # PIL's default: what eval_local.py's Image.save("x.jpg") wrote


def save_jpeg(image, path: str | Path, quality: int = JPEG_QUALITY) -> None:
    """Atomic RGB JPEG at ``quality`` (PIL's encoder, no subsampling override: PIL's defaults as the original)."""
    with atomic_path(path) as tmp:
        image.convert("RGB").save(tmp, format="JPEG", quality=int(quality))


def jpeg_copies(source_done: str | Path, out_done: str | Path, experiment: str, quality: int = JPEG_QUALITY) -> dict:
    """Write ``{id}.jpg`` beside ``out_done`` for every image of ``source_done`` and the copy's ``done.json``."""
    from PIL import Image

    from instdiff.core.image_errors import DECODE_ERRORS, regenerate_fix

    source_done, out_done = Path(source_done), Path(out_done)
    records = []
    for rec in tqdm(read_done(source_done), desc=f"JPEG-{quality} copies", disable=False):
        src = Path(rec["file"])
        src = src if src.is_absolute() else source_done.parent / src
        try:
            with Image.open(src) as im:
                if im.format == "JPEG":
                    raise InputError(src, "the source image is already a JPEG: a copy would compress it twice",
                                     "copy a PNG experiment (generation.image_format: png)", "source")
                image = im.convert("RGB")
        except InputError:
            raise
        except DECODE_ERRORS as exc:  # FileNotFoundError is an OSError
            raise InputError(src, f"cannot read the source image ({exc.__class__.__name__})",
                             regenerate_fix(src)) from None
        name = f"{rec['id']}.jpg"
        save_jpeg(image, out_done.parent / name, quality)
        records.append({"id": rec["id"], "file": name})
    doc = {"experiment": experiment, "images": records, "n": len(records), "source": str(source_done),
           "jpeg_quality": int(quality)}
    write_json(out_done, doc)
    log.info("%s: %d JPEG-%d copies of %s", experiment, len(records), quality, source_done)
    return doc


def copy_layouts(source: str | Path, out: str | Path) -> None:
    """The copy's layouts are the source's, byte for byte (the images were generated from them)."""
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
