"""The pictures of a human study: which files are rated, their image id and variant, and their captions.

Folder conventions understood by :func:`discover_images` (image files: .png, .jpg, .jpeg, .webp):

* ``DIR/raw/{image_id}.png`` and ``DIR/refined/{image_id}.png`` — the variant is the sub-folder's name; or
* a flat ``DIR`` in the extension's naming: ``{image_id}.png`` is the raw InstanceDiffusion output,
  ``{image_id}_xl_{anything}.png`` (e.g. ``129_xl_s0.4_n20.png``) the SDXL-refined one, and ``{image_id}_boxes.png``
  (the layout visualisation) is not a study picture and is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from instdiff.core.errors import InputError
from instdiff.core.io import is_temp, read_json, read_jsonl
from instdiff.raters.table import VARIANTS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
_REFINED = re.compile(r"^(?P<id>.+?)_xl(_.*)?$")


@dataclass(frozen=True)
class StudyImage:
    image_id: str
    variant: str
    path: Path


def _images_in(folder: Path) -> list[Path]:
    # A killed write leaves ``.{id}.{random}.tmp.png``: never a study picture (nor is any hidden file).
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not is_temp(p) and not p.name.startswith("."))


def discover_images(folder: str | Path) -> list[StudyImage]:
    """Every study picture in ``folder``, sorted by (image_id, variant). Raises InputError if there is none or an
    (image_id, variant) pair appears twice."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "image folder does not exist", "pass the folder holding the generated images")
    found: list[StudyImage] = []
    variant_dirs = [folder / v for v in VARIANTS if (folder / v).is_dir()]
    if variant_dirs:
        for vdir in variant_dirs:
            found += [StudyImage(p.stem, vdir.name, p) for p in _images_in(vdir)]
    else:
        for p in _images_in(folder):
            if p.stem.endswith("_boxes"):
                continue  # layout visualisation, not a generated picture
            m = _REFINED.match(p.stem)
            found.append(StudyImage(m["id"], "refined", p) if m else StudyImage(p.stem, "raw", p))
    if not found:
        raise InputError(folder, "no images found", "put {id}.png files in it, or raw/ and refined/ sub-folders")
    seen: dict[tuple[str, str], Path] = {}
    for img in found:
        key = (img.image_id, img.variant)
        if key in seen:
            raise InputError(img.path, f"image {img.image_id!r} ({img.variant}) also exists as {seen[key].name}",
                             "keep one file per image id and variant")
        seen[key] = img.path
    return sorted(found, key=lambda i: (i.image_id, i.variant))


def read_captions(path: str | Path) -> dict[str, str]:
    """Captions by image id: a ``.jsonl`` of layouts / records holding ``id`` (or ``image_id``) and ``caption``
    (the LLM stage's layouts file), or a ``.json`` object ``{image_id: caption}`` (or a list of such records)."""
    path = Path(path)
    fix = "pass a layouts .jsonl or a {id: caption} .json (a JSON-lines file must be named .jsonl)"
    records: list = []
    if path.suffix == ".jsonl":
        records = read_jsonl(path, "captions file", fix)
    else:
        data = read_json(path, "captions file", fix)
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        records = data if isinstance(data, list) else []
    out = {}
    for i, rec in enumerate(records, 1):
        key = rec.get("id", rec.get("image_id")) if isinstance(rec, dict) else None
        if key is None or "caption" not in rec:
            raise InputError(path, f"record {i} lacks id/image_id or caption", "give each record an id and a caption",
                             "caption")
        out[str(key)] = str(rec["caption"])
    return out
