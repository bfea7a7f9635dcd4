"""The real val2017 images squashed to 512x512: the upper-bound row (experiment ``real``); and the same images at
their own resolution (experiment ``real_fullres``, :func:`real_images_native`).

Written like a generated experiment, so detection and metrics treat both alike: ``{out}/{id}.png`` (lossless) and,
last, ``{out}/done.json`` = ``{"experiment": ..., "images": [{"id": "139", "file": "139.png"}, ...], "n": N,
"n_images": N}`` with
``id`` the layout id (the COCO image id as a string), in ascending image-id order.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from PIL import Image

from instdiff.core.image_errors import DECODE_ERRORS
from tqdm import tqdm

from instdiff.data.coco import load_instances
from instdiff.core.errors import InputError
from instdiff.core.io import write_json

log = logging.getLogger(__name__)

SIZE = 512


def decode_rgb(path: Path) -> Image.Image:
    """Every pixel of a val2017 file, as RGB; a missing or damaged file is an InputError naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError:
        raise InputError(path, "image file does not exist", "re-extract val2017.zip (rule unzip_coco)") from None
    except DECODE_ERRORS as exc:
        raise InputError(path, f"cannot be decoded as an image ({exc})",
                         "delete it and re-extract val2017.zip (rule unzip_coco)") from None


def squash_image(path: Path, size: int = SIZE) -> Image.Image:
    """Open an image, convert to RGB and resize to ``size x size`` (bicubic, aspect ratio not kept)."""
    return decode_rgb(path).resize((size, size), resample=Image.Resampling.BICUBIC)


def _sorted_images(instances: str | Path | Mapping, max_images: int | None) -> list[dict]:
    """The annotation file's images in id order, optionally the first ``max_images``."""
    data, _ = load_instances(instances)
    imgs = sorted(data["images"], key=lambda im: im["id"])
    return imgs if max_images is None else imgs[: int(max_images)]


def real_images_512(instances: str | Path | Mapping, image_dir: str | Path, out_dir: str | Path,
                    experiment: str = "real", max_images: int | None = None, size: int = SIZE) -> dict:
    """Squash the images of ``instances`` (sorted ids, optionally the first ``max_images``) into ``out_dir``.

    All images are written to a staging folder first and moved into place only when every image decoded, so a
    corrupt image raises an InputError naming it and leaves no new file behind. Returns the done record.
    """
    imgs = _sorted_images(instances, max_images)
    image_dir, out_dir = Path(image_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    records = []
    try:
        for img in tqdm(imgs, desc=f"real images {size}", mininterval=5):
            name = f"{img['id']}.png"
            squash_image(image_dir / img["file_name"], size).save(stage / name, format="PNG")
            records.append({"id": str(img["id"]), "file": name})
        for rec in records:
            os.replace(stage / rec["file"], out_dir / rec["file"])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    # "n_images" too: the generate stage's done record names the count so (instdiff.generation.shard.finalize).
    done = {"experiment": experiment, "images": records, "n": len(records), "n_images": len(records)}
    write_json(out_dir / "done.json", done)
    log.info("wrote %d real images to %s", len(records), out_dir)
    return done


def real_images_native(instances: str | Path | Mapping, image_dir: str | Path, out_dir: str | Path,
                       experiment: str = "real_fullres", max_images: int | None = None) -> dict:
    """The original files at their own resolution, listed (not copied) in ``out_dir/done.json`` by a path relative
    to it, after checking that each decodes at the size the annotation file gives it.

    Scored against the official annotation file, this is the protocol of ultralytics' published yolov8m /
    yolov8m-seg numbers (50.2 box / 40.8 mask AP), so the upper-bound row can check the detector setup itself.
    """
    imgs = _sorted_images(instances, max_images)
    image_dir, out_dir = Path(image_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for img in tqdm(imgs, desc="real images (native)", mininterval=5):
        path = image_dir / img["file_name"]
        size = decode_rgb(path).size
        if size != (int(img["width"]), int(img["height"])):
            raise InputError(path, f"image is {size[0]}x{size[1]}, the annotation file says {img['width']}x"
                             f"{img['height']}", "use the images of the same val2017 release as the annotations")
        records.append({"id": str(img["id"]), "file": os.path.relpath(path.resolve(), out_dir.resolve())})
    done = {"experiment": experiment, "images": records, "n": len(records), "n_images": len(records),
            "resolution": "native"}
    write_json(out_dir / "done.json", done)
    log.info("listed %d real images at native resolution for %s", len(records), experiment)
    return done
