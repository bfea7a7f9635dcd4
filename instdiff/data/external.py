"""Images made elsewhere (experiment ``kind: external``), scored by the same protocol as ours.

An external experiment names a folder of ``<layout id>.png`` / ``.jpg`` files (``images:``), the experiment whose
layouts they were drawn from (``layouts:``) and the name of its row (``label:``). Nothing is generated: the files
are checked against the layouts, copied byte for byte into ``images/{experiment}/`` and listed in its ``done.json``,
the record every later stage reads (the same one the generate stage and the real-image writer write), so detection,
AP, PiM, attribute binding and FID score them exactly as they score our images.

Preprocessing: none. The files must already be what our generator writes: one image per layout, exactly the
layout's canvas (512x512 on the COCO protocol) in any mode PIL decodes. A file of another size is refused, never
resized: a resize would change the pixels the detector sees and, for another aspect ratio, move every box against
the ground truth, so a score would no longer say what the model drew. Missing ids, extra files, files that do not
decode and files of the wrong size are all named in ONE error, so a hand-in is fixed in one go.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from instdiff.core.errors import InputError
from instdiff.core.io import write_json

log = logging.getLogger(__name__)

# The suffixes a hand-in may use, and the one its copy gets (the generate stage writes .png or .jpg).
SUFFIXES = {".png": ".png", ".jpg": ".jpg", ".jpeg": ".jpg"}
ROW_SUFFIX = " (external images)"
LISTED = 10  # files named per kind of problem in the error (the count says how many there are)
FIX = ("hand in exactly one <layout id>.png or .jpg per layout of the `layouts:` experiment, each at the layout's "
       "canvas size (512x512 on the COCO protocol; `instdiff layouts` writes the ids and boxes), and nothing else; "
       "images are never resized (README: external images)")


def row_label(experiment: Mapping[str, Any]) -> str:
    """The row name of an external experiment in the tables: "<label> (external images)"."""
    return f"{experiment['label']}{ROW_SUFFIX}"


def external_rows(experiments: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """One entry per external experiment of the config, in config order: its name, its row label and the
    experiment whose layouts (and so whose table rows, e.g. ``box``: table 1) it follows."""
    return [{"experiment": name, "label": row_label(exp), "layouts": exp["layouts"]}
            for name, exp in experiments.items() if exp.get("kind") == "external"]


def _order_key(lay) -> tuple:
    # instdiff.generation.shard.canonical_order's key: the done records list images in the same order, so the
    # detector's batches (validator mode pads per batch) hold the same images as for a generated experiment.
    return (0, int(lay.image_id), lay.id) if lay.image_id is not None else (1, 0, lay.id)


def _listed(what: str, names: Sequence[str]) -> str:
    more = f", ... ({len(names) - LISTED} more)" if len(names) > LISTED else ""
    return f"{what} ({len(names)}): {', '.join(names[:LISTED])}{more}"


def check_external_images(folder: str | Path, layouts: Sequence, field: str = "images") -> dict[str, Path]:
    """Layout id -> its file in ``folder``, after checking every file; one InputError names every problem
    (``field``: the config key that named the folder)."""
    from PIL import Image

    from instdiff.core.image_errors import DECODE_ERRORS

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "the external images folder does not exist", f"set {field} to a folder of "
                         "<layout id>.png files", field)
    wanted = {lay.id: lay for lay in layouts}
    found: dict[str, list[Path]] = {}
    extra = []
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if path.is_file() and suffix in SUFFIXES and path.stem in wanted:
            found.setdefault(path.stem, []).append(path)
        else:
            extra.append(path.name + ("/" if path.is_dir() else ""))
    missing = [i for i in wanted if i not in found]
    twice = [" + ".join(p.name for p in paths) for paths in found.values() if len(paths) > 1]
    unreadable, wrong_size = [], []
    for layout_id, paths in found.items():
        lay = wanted[layout_id]
        for path in paths:
            try:
                with Image.open(path) as img:
                    img.load()  # every pixel: a truncated file fails here, not in the detector
                    size = img.size
            except DECODE_ERRORS as exc:
                unreadable.append(f"{path.name} ({exc.__class__.__name__})")
                continue
            if size != (lay.width, lay.height):
                wrong_size.append(f"{path.name} is {size[0]}x{size[1]}, its layout {lay.width}x{lay.height}")
    problems = [_listed(what, names) for what, names in (
        ("layouts without an image", missing), ("files that are no layout's image", extra),
        ("layouts with two images", twice), ("images that do not decode", unreadable),
        ("images of the wrong size", wrong_size)) if names]
    if problems:
        raise InputError(folder, "the external images do not match the layouts they follow: " + "; ".join(problems),
                         FIX, field)
    return {layout_id: paths[0] for layout_id, paths in found.items()}


def external_images(layouts_path: str | Path, folder: str | Path, out_dir: str | Path, experiment: str,
                    label: str, layouts_from: str) -> dict:
    """Check ``folder`` against the layouts, copy its images into ``out_dir`` and write ``out_dir/done.json``.

    The copies keep their bytes (a JPEG stays the same JPEG), so a score is of exactly the files handed in; the
    done record lists ``{id, file, sha256}`` per image and where they came from (``external``). The copies are
    staged and moved into place only after every check passed, so a refused hand-in leaves nothing behind.
    """
    from instdiff.core.checkpoints import sha256 as file_sha256
    from instdiff.core.layout import read_layouts

    layouts = sorted(read_layouts(layouts_path), key=_order_key)
    files = check_external_images(folder, layouts, f"experiments.{experiment}.images")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    records = []
    try:
        for lay in layouts:
            src = files[lay.id]
            name = f"{lay.id}{SUFFIXES[src.suffix.lower()]}"
            shutil.copyfile(src, stage / name)
            records.append({"id": lay.id, "file": name, "sha256": file_sha256(stage / name)})
        for rec in records:
            os.replace(stage / rec["file"], out_dir / rec["file"])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    done = {"experiment": experiment, "images": records, "n": len(records), "n_images": len(records),
            "external": {"folder": str(folder), "label": label, "row": f"{label}{ROW_SUFFIX}",
                         "layouts": layouts_from, "preprocessing": "none (copied byte for byte)"}}
    write_json(out_dir / "done.json", done)
    log.info("%s: %d external images from %s (layouts of %s)", experiment, len(records), folder, layouts_from)
    return done
