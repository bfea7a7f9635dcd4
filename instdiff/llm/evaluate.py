"""Metric files of the LLM stage (docs/architecture.md format: ``values`` numbers only, ``per_image`` optional).

* ``llm/grounding/{scorer}.json``: per image variant (``raw``, ``refined``) and reference (``intended``, ``given``)
  the grounding metrics of :mod:`instdiff.metrics.grounding_iou`; value keys ``{variant}.{reference}.{metric}``.
* ``llm/grounding/legacy.json``: the published CogVLM computation recomputed from the extension's shipped files,
  beside the corrected readings of the same files.
* ``llm/clip.json``: global CLIP score per variant (mean, SD, bootstrap CI).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from instdiff.core.device import resolve_device
from instdiff.core.io import read_json, read_jsonl
from instdiff.metrics.record import validate, write_record
from instdiff.core.layout import read_layouts

log = logging.getLogger(__name__)


def _numbers(prefix: str, summary: Mapping[str, Any]) -> dict[str, float]:
    return {f"{prefix}.{k}": v for k, v in summary.items() if isinstance(v, (int, float)) and v is not None}


def _manifest(path: str | Path | None) -> dict | None:
    return read_json(path) if path else None


def grounding_metric_file(
    layouts_path: str | Path,
    detections: Mapping[str, str | Path],
    out_path: str | Path,
    scorer: str,
    matching: str = "hungarian",
    manifest_path: str | Path | None = None,
) -> dict[str, Any]:
    """Score ``detections`` (variant -> detections JSON lines) against the layouts and write the metric file."""
    from instdiff.metrics.grounding_iou import score_detections

    layouts = read_layouts(layouts_path)
    values: dict[str, float] = {}
    per_image: dict[str, list] = {}
    for variant, path in detections.items():
        scored = score_detections(layouts, read_jsonl(path), matching)
        for ref in ("intended", "given"):
            values.update(_numbers(f"{variant}.{ref}", scored[ref]))
        per_image[variant] = scored["per_image"]
    result = {
        "metric": "grounding",
        "variant": scorer,
        "experiment": "llm",
        "values": values,
        "n_images": len(layouts),
        "settings": {"matching": matching, "references": ["intended", "given"], "variants": list(detections),
                     "box_format_fed": sorted({lay.meta.get("box_format_fed", "xyxy") for lay in layouts})},
        "per_image": per_image,
        "manifest": _manifest(manifest_path),
    }
    write_record(out_path, validate(result, out_path))
    return result


def legacy_metric_file(pred_path: str | Path, gt_path: str | Path, out_path: str | Path, manifest_path: str | Path | None = None) -> dict[str, Any]:
    """The extension's CogVLM number recomputed from its shipped files (``legacy``), and the same files read right."""
    from instdiff.metrics.grounding_iou import score_extension_files

    values: dict[str, float] = {}
    runs = [("legacy", "best-per-label"), ("intended", "best-per-label"), ("given", "best-per-label"),
            ("intended", "hungarian"), ("given", "hungarian")]
    for mode, matching in runs:
        values.update(_numbers(f"{mode}.{matching}", score_extension_files(pred_path, gt_path, mode, matching)))
    result = {
        "metric": "grounding",
        "variant": "legacy",
        "experiment": "llm",
        "values": values,
        "n_images": int(values["legacy.best-per-label.n_images"]),
        "settings": {"pred": str(pred_path), "gt": str(gt_path), "pairing": "line",
                     "note": "legacy = both box sets read as xywh, best IoU per (image, label): the published 0.42"},
        "manifest": _manifest(manifest_path),
    }
    write_record(out_path, validate(result, out_path))
    return result


def clip_metric_file(
    layouts_path: str | Path,
    images_dir: str | Path,
    out_path: str | Path,
    settings: Mapping[str, Any],
    variants: list[str],
    image_format: str = "png",
    run_seed: int = 0,
    manifest_path: str | Path | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Global CLIP score of every image variant against its layout caption."""
    from instdiff.llm.scorers.run import image_path
    from instdiff.metrics.clipscore import clip_scores, load_clip, mean_with_ci
    from instdiff.core.seeding import derive_seed

    device = resolve_device(device)
    layouts = read_layouts(layouts_path)
    model, preprocess, tokenizer = load_clip(dict(settings), device)  # once for every variant
    values: dict[str, float] = {}
    per_image: dict[str, list] = {}
    for variant in variants:
        paths = [image_path(images_dir, lay.id, variant, image_format) for lay in layouts]
        scores = clip_scores(paths, [lay.caption for lay in layouts], model, preprocess, tokenizer, int(settings.get("batch_size", 32)), device)
        stats = mean_with_ci(scores, int(settings.get("n_boot", 1000)), seed=derive_seed(run_seed, "llm", "clip", variant) % 2**32)
        values.update(_numbers(variant, stats))
        per_image[variant] = [{"id": lay.id, "clip": float(s)} for lay, s in zip(layouts, scores)]
    result = {
        "metric": "clip_global",
        "variant": "raw_cosine",
        "experiment": "llm",
        "values": values,
        "n_images": len(layouts),
        "settings": {"arch": settings.get("arch"), "pretrained": str(settings.get("pretrained")), "variants": variants},
        "per_image": per_image,
        "manifest": _manifest(manifest_path),
    }
    write_record(out_path, validate(result, out_path))
    return result
