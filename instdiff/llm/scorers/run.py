"""Run one grounding scorer over the LLM stage's images: layouts + images -> detections (JSON lines).

One row per layout, in layout order: ``{"id", "image", "detections": [Detection...], "raw_text"}`` with boxes in
normalised corners. ``raw_text`` is the VLM's answer (CogVLM), ``null`` for detectors. The model is loaded once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tqdm import tqdm

from instdiff.core.device import resolve_device
from instdiff.core.errors import InputError
from instdiff.generation.image_records import image_file
from instdiff.llm.scorers.base import layout_queries
from instdiff.core.io import write_jsonl
from instdiff.core.layout import read_layouts

log = logging.getLogger(__name__)


def image_path(images_dir: str | Path, layout_id: str, variant: str = "raw", image_format: str = "png") -> Path:
    """``images/llm/{id}.png`` for the raw image, ``images/llm/refined/{id}.png`` for the SDXL-refined one (the file
    name as the generation stage wrote it: :func:`instdiff.generation.image_records.image_file`)."""
    return image_file(Path(images_dir) if variant == "raw" else Path(images_dir) / variant, layout_id, image_format)


def score_images(
    layouts_path: str | Path,
    images_dir: str | Path,
    out_path: str | Path,
    scorer_name: str,
    settings: dict[str, Any],
    variant: str = "raw",
    image_format: str = "png",
    device: str | None = None,
    scorer=None,
) -> list[dict[str, Any]]:
    from PIL import Image

    from instdiff.llm.scorers.hf import build_scorer

    layouts = read_layouts(layouts_path)
    paths = [image_path(images_dir, lay.id, variant, image_format) for lay in layouts]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(missing[0], f"{len(missing)} images are missing", "run the generation stage for experiment 'llm' first")
    if scorer is None:
        scorer = build_scorer(scorer_name, settings, resolve_device(device))
    query_field = settings.get("query_field", "phrase")  # CogVLM ignores queries: it names what it sees
    rows = []
    for lay, path in tqdm(list(zip(layouts, paths)), desc=f"grounding {scorer_name} {variant}", unit="img"):
        with Image.open(path) as im:
            detections, raw_text = scorer.detect(im.convert("RGB"), layout_queries(lay, query_field))
        rows.append({"id": lay.id, "image": path.name, "detections": [d.to_dict() for d in detections], "raw_text": raw_text})
    write_jsonl(out_path, rows)
    log.info("%s on %d %s images: %d detections", scorer_name, len(rows), variant, sum(len(r["detections"]) for r in rows))
    return rows
