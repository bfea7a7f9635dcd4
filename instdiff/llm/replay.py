"""Replay source: layouts from a folder of stored LLM replies instead of the API.

The folder holds the extension's files ``chatgpt_descriptions_bboxes{i}.json`` (i = 1..N):
``{"caption", "width", "height", "annos": [{"bbox": [x1, y1, x2, y2] pixels, "category_name", "caption", "mask"}]}``.
Layout ids are ``desc_{i:03d}``, named after the file, never after a counter.

Boxes come out as the LLM meant them (corners, normalised); ``meta["intended_boxes"]`` records them.
The published misreading is applied afterwards, for either source, by
:func:`instdiff.llm.stage.apply_box_format`. Out-of-vocabulary categories are counted in ``meta`` and kept
(``keep``, also what ``reject`` means here: a stored reply cannot be repaired) or removed (``drop``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from instdiff.core.errors import InputError
from instdiff.core.io import read_json
from instdiff.core.layout import Instance, Layout, normalize_xyxy
from instdiff.llm.validate import OOV_POLICIES, box_problems
from instdiff.llm.vocab import COCO_CATEGORIES, canonical_category

log = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^chatgpt_descriptions_bboxes(\d+)\.json$")


def replay_files(folder: str | Path) -> list[tuple[int, Path]]:
    """``(i, path)`` of every reply file in the folder, sorted by ``i``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "replay folder does not exist", "set llm.replay.dir to a folder of chatgpt_descriptions_bboxes{i}.json files", "llm.replay.dir")
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := FILE_PATTERN.match(p.name)))
    if not found:
        raise InputError(folder, "no chatgpt_descriptions_bboxes{i}.json files", "point llm.replay.dir at the stored replies", "llm.replay.dir")
    return found


def layout_from_reply(path: Path, index: int, out_of_vocabulary: str = "keep") -> Layout:
    """One stored reply -> Layout (corner boxes normalised to the reply's canvas)."""
    if out_of_vocabulary not in OOV_POLICIES:
        raise ValueError(f"out_of_vocabulary must be one of {OOV_POLICIES}")
    raw = read_json(path)
    for key in ("caption", "annos"):
        if key not in raw:
            raise InputError(path, f"missing {key!r}", "use the extension's reply format", key)
    width, height = int(raw.get("width", 512)), int(raw.get("height", 512))
    instances, intended, oov = [], [], []
    for j, anno in enumerate(raw["annos"]):
        where = f"annos[{j}].bbox"
        box = anno.get("bbox")
        if not (isinstance(box, list) and len(box) == 4):
            raise InputError(path, f"bbox must be 4 numbers, got {box!r}", "write [x1, y1, x2, y2] pixels", where)
        corners = tuple(float(v) for v in box)
        problems = box_problems(corners, width, height)
        if problems:
            raise InputError(path, "; ".join(problems), "fix or remove this instance", where)
        category = canonical_category(anno.get("category_name", ""))
        if category is None:
            oov.append(anno.get("category_name"))
            if out_of_vocabulary == "drop":
                continue
        intended.append(list(normalize_xyxy(corners, width, height)))
        instances.append(
            Instance(
                phrase=str(anno.get("caption") or anno.get("category_name")).strip(),  # inference.py uses the instance caption
                box=normalize_xyxy(corners, width, height),
                category=category if category is not None else anno.get("category_name"),
                category_id=COCO_CATEGORIES.get(category) if category is not None else None,
            )
        )
    return Layout(
        id=f"desc_{index:03d}",
        caption=str(raw["caption"]).strip(),
        instances=instances,
        width=width,
        height=height,
        meta={
            "source": "replay",
            "source_file": path.name,
            "box_format_fed": "xyxy",
            "intended_boxes": intended,
            "out_of_vocabulary": oov,
            "out_of_vocabulary_policy": out_of_vocabulary,
        },
    )


def replay_layouts(folder: str | Path, max_layouts: int | None = None, out_of_vocabulary: str = "keep") -> list[Layout]:
    """The first ``max_layouts`` stored replies (by file number) as layouts."""
    files = replay_files(folder)[: max_layouts or None]
    layouts = [layout_from_reply(p, i, out_of_vocabulary) for i, p in files]
    n_oov = sum(len(lay.meta["out_of_vocabulary"]) for lay in layouts)
    log.info("replayed %d layouts from %s (%d out-of-vocabulary instances)", len(layouts), folder, n_oov)
    return layouts
