"""The metric file contract (``metrics/{experiment}/{stem}.json``): one typed record, one schema per metric.

Writers build a :class:`MetricRecord` and call :func:`write_record`; readers (tables, figures, the LLM table) call
:func:`read_record`. Both run :func:`validate`, so a key renamed on one side fails at the first file written or
read, naming the file, the field and the fix, instead of silently emptying a table column.

Every file is ``{"metric", "variant", "experiment", "values", "n_images", "settings", "per_image", "per_category",
"intervals", "manifest"}``:

- ``values``: numbers only (fractions for AP/AR/PiM/accuracy, cosines, raw FID); NaN where undefined;
- ``per_image``: records with the schema's ``per_image_keys`` (the value key a bootstrap reads), or null;
- ``per_category``: COCO files only, ``[{"id", "name", "ap"}]`` (ap null where a category has no GT);
- ``intervals``: ``{value key: {"low", "high", "level", "resamples", "seed", "method"}}`` computed by the writer
  where a reader cannot (COCO AP needs the detections, not just per-image numbers).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_json


@dataclass(frozen=True)
class Schema:
    """What one metric's file must hold."""

    values: tuple[str, ...]                      # required keys of ``values``
    per_image_keys: tuple[str, ...] = ()         # required keys of every per-image record (empty: no per_image)
    per_image_by_variant: bool = False           # per_image is {variant: [records]} (LLM files)
    per_category: bool = False
    prefixed_values: bool = False                # values are "<variant>.<ref>.<name>" keys (no fixed set)
    fractions: tuple[str, ...] = ()              # value names (last dotted part) that are fractions in [0, 1]
    fraction_prefixes: tuple[str, ...] = ()      # ... and names that start with one of these
    undefined: float | None = None               # a sentinel the metric's library writes for "undefined" (COCO: -1)


COCO_VALUES = ("ap", "ap50", "ar", "ar100", "r", "p")
SCHEMAS: dict[str, Schema] = {
    # pycocotools writes -1 for a number it cannot define (no ground truth at all)
    "coco_bbox": Schema(COCO_VALUES, per_category=True, fractions=COCO_VALUES, undefined=-1.0),
    "coco_segm": Schema(COCO_VALUES, per_category=True, fractions=COCO_VALUES, undefined=-1.0),
    # box AP of the segmentation model's boxes (the original README's `yolo val segment`): a sensitivity row
    "coco_bbox_segmodel": Schema(COCO_VALUES, per_category=True, fractions=COCO_VALUES, undefined=-1.0),
    # n_unmatched_gt of n_instances: Table 3's unmatched count
    "pim_point": Schema(("pim", "n_images", "n_scored", "n_unmatched_gt", "n_instances"), ("image_id", "pim"),
                        fractions=("pim",)),
    "pim_scribble": Schema(("pim", "n_images", "n_scored", "n_unmatched_gt", "n_instances"), ("image_id", "pim"),
                           fractions=("pim",)),
    "attribute": Schema(("accuracy", "clip_local", "n_instances", "n_unmatched", "miss_rate", "n_conditioned",
                         "n_matched"),
                        ("image_id", "accuracy", "clip_local"), fractions=("accuracy", "miss_rate")),
    "fid": Schema(("fid", "kid_mean", "kid_std")),
    "grounding": Schema((), prefixed_values=True, fractions=("mean_iou", "recall", "precision", "auc"),
                        fraction_prefixes=("success_at_",)),
    "clip_global": Schema((), ("id", "clip"), per_image_by_variant=True, prefixed_values=True),
}
INTERVAL_KEYS = ("low", "high", "level", "resamples", "seed", "method")
FIX = "rerun the metric rule that writes it (the writer and this reader share instdiff/metrics/record.py)"


@dataclass(frozen=True)
class MetricRecord:
    metric: str
    experiment: str
    values: dict[str, float]
    n_images: int
    settings: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    per_image: Any = None
    per_category: list[dict] | None = None
    intervals: dict[str, dict] | None = None
    manifest: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_records(records: Any, keys: tuple[str, ...], path, where: str) -> None:
    if not isinstance(records, list):
        raise InputError(path, f"{where} is not a list of per-image records", FIX, where)
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InputError(path, f"{where}[{i}] is not an object", FIX, f"{where}[{i}]")
        for k in keys:
            if k not in rec:
                raise InputError(path, f"per-image record {i} has no {k!r}", FIX, f"{where}[{i}].{k}")
            if k not in ("image_id", "id", "name") and rec[k] is not None and not _number(rec[k]):
                raise InputError(path, f"{where} {k!r} is {rec[k]!r}, not a number or null", FIX, f"{where}[{i}].{k}")


def _is_fraction(schema: Schema, key: str) -> bool:
    name = key.rsplit(".", 1)[-1]
    return name in schema.fractions or name.startswith(schema.fraction_prefixes)


def _in_unit(v: float, schema: Schema) -> bool:
    """In [0, 1], NaN (undefined) or the metric library's own undefined sentinel."""
    v = float(v)
    return math.isnan(v) or 0.0 <= v <= 1.0 or (schema.undefined is not None and v == schema.undefined)


def validate(doc: Any, path: str | Path | None = None) -> MetricRecord:
    """``doc`` (a metric file's JSON) as a :class:`MetricRecord`, or one InputError naming the first bad field."""
    if not isinstance(doc, Mapping):
        raise InputError(path, f"a metric file is a JSON object, got {type(doc).__name__}", FIX)
    metric = doc.get("metric")
    if metric not in SCHEMAS:
        raise InputError(path, f"unknown metric {metric!r}", f"one of {sorted(SCHEMAS)}; {FIX}", "metric")
    schema = SCHEMAS[metric]
    values = doc.get("values")
    if not isinstance(values, Mapping):
        raise InputError(path, "no 'values' object", FIX, "values")
    for k, v in values.items():
        if not _number(v):
            raise InputError(path, f"values.{k} is {v!r}, not a number", FIX, f"values.{k}")
    for k in schema.values:
        if k not in values:
            raise InputError(path, f"'values' has no {k!r}", FIX, f"values.{k}")
    for k, v in values.items():
        if _is_fraction(schema, k) and not _in_unit(v, schema):  # ap 7.5 would print as 750.0
            raise InputError(path, f"values.{k} is {v!r}, not a fraction in [0, 1]", FIX, f"values.{k}")
    if not _number(doc.get("n_images")) or doc["n_images"] < 0:
        raise InputError(path, f"n_images is {doc.get('n_images')!r}", FIX, "n_images")
    if not isinstance(doc.get("experiment"), str):
        raise InputError(path, "no 'experiment' name", FIX, "experiment")
    per_image = doc.get("per_image")
    if schema.per_image_keys and per_image is not None:
        if schema.per_image_by_variant:
            if not isinstance(per_image, Mapping):
                raise InputError(path, "per_image is not an object of variant -> records", FIX, "per_image")
            for variant, recs in per_image.items():
                _check_records(recs, schema.per_image_keys, path, f"per_image.{variant}")
        else:
            _check_records(per_image, schema.per_image_keys, path, "per_image")
    per_category = doc.get("per_category")
    if schema.per_category:
        _check_records(per_category, ("id", "name", "ap"), path, "per_category")
    intervals = doc.get("intervals")
    if intervals is not None:
        if not isinstance(intervals, Mapping):
            raise InputError(path, "intervals is not an object", FIX, "intervals")
        for k, iv in intervals.items():
            if k not in values:
                raise InputError(path, f"interval for {k!r}, which is not a value", FIX, f"intervals.{k}")
            if not isinstance(iv, Mapping) or any(key not in iv for key in INTERVAL_KEYS):
                raise InputError(path, f"interval {k!r} needs {list(INTERVAL_KEYS)}", FIX, f"intervals.{k}")
    return MetricRecord(metric=metric, experiment=doc["experiment"], values={k: float(v) for k, v in values.items()},
                        n_images=int(doc["n_images"]), settings=dict(doc.get("settings") or {}),
                        variant=doc.get("variant"), per_image=per_image, per_category=per_category,
                        intervals=None if intervals is None else {k: dict(v) for k, v in intervals.items()},
                        manifest=doc.get("manifest"))


def write_record(out: str | Path, record: MetricRecord) -> dict:
    """Validate ``record`` and write it atomically; returns the JSON object written."""
    doc = record.to_dict()
    validate(doc, out)
    write_json(out, doc)
    return doc


def read_record(path: str | Path, metric: str | None = None) -> MetricRecord:
    """Read and validate a metric file; with ``metric`` the file must hold that metric."""
    rec = validate(read_json(path), path)
    if metric is not None and rec.metric != metric:
        raise InputError(path, f"holds metric {rec.metric!r}, expected {metric!r}", FIX, "metric")
    return rec


def finite(v: Any) -> bool:
    return _number(v) and math.isfinite(float(v))
