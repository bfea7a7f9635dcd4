"""One spec per metric id of the config (``experiments.<name>.metrics``): what the rules, the report and the docs
need to know about a metric, in one place (the torchmetrics / lm-evaluation-harness way: a metric carries its own
metadata, one lookup fails with "unknown metric X; available: ...").

Kept free of heavy imports: the Snakefile reads it at every parse (rules/common.smk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

from instdiff.core.errors import InputError

Unit = Literal["fraction", "percent", "distance"]


@dataclass(frozen=True)
class MetricSpec:
    """A metric id and the facts every stage needs about it."""

    id: str                          # the config's metric id
    label: str                       # what it measures, for messages and docs
    files: tuple[str, ...]           # stems of the files it writes: metrics/{experiment}/{stem}.json
    detector: str | None             # models.<key> of the detector whose detections it scores (None: none)
    env: str                         # stage env of its rules (instdiff.core.envs maps it to envs/<file>.yaml)
    unit: Unit                       # unit of ``keys`` in the file (fraction: 0..1, the tables print percent)
    keys: tuple[str, ...]            # the headline value keys (in ``unit``, ranked by ``higher_is_better``)
    higher_is_better: bool

    def scale(self, key: str) -> float:
        """The factor turning value ``key`` of this metric's files into the paper's printed unit."""
        return 100.0 if self.unit == "fraction" and key in self.keys else 1.0

    def bounds(self, key: str, scale: float = 1.0) -> tuple[float | None, float | None]:
        """The range of value ``key`` in a unit ``scale`` times the file's: [0, scale] for a headline fraction
        (AP, PiM, accuracy), [0, inf) for a headline distance (FID), unbounded otherwise (cosines, KID estimates).
        Intervals across seeds are computed inside it (``instdiff.core.stats.seeds_mean_ci``)."""
        if key not in self.keys:
            return (None, None)
        return (0.0, 1.0 * scale) if self.unit == "fraction" else (0.0, None)


_COCO_KEYS = ("ap", "ap50", "ar", "ar100", "r")
METRICS: dict[str, MetricSpec] = {
    spec.id: spec
    for spec in (
        MetricSpec("coco_bbox", "box AP/AR of the box detector (pycocotools, ultralytics R)", ("coco_bbox",),
                   "detector_box", "eval", "fraction", _COCO_KEYS, True),
        MetricSpec("coco_segm", "mask AP/AR of the segmentation detector", ("coco_segm",),
                   "detector_mask", "eval", "fraction", _COCO_KEYS, True),
        # table 1's sensitivity row: the original README's `yolo val segment` scores boxes of the seg model
        MetricSpec("coco_bbox_segmodel", "box AP/AR of the segmentation detector's boxes", ("coco_bbox_segmodel",),
                   "detector_mask", "eval", "fraction", _COCO_KEYS, True),
        MetricSpec("pim_point", "points-in-mask of point inputs (as in eval_pim.py, and corrected)",
                   ("pim_point_paper", "pim_point_corrected"), "detector_mask", "eval", "fraction", ("pim",), True),
        MetricSpec("pim_scribble", "points-in-mask of scribble inputs (as in eval_pim.py, and corrected)",
                   ("pim_scribble_paper", "pim_scribble_corrected"), "detector_mask", "eval", "fraction", ("pim",),
                   True),
        # the GT-box crops need no detector; the detected-box variant scores the box detector's crops
        MetricSpec("attribute", "colour / texture accuracy and CLIP_local on instance crops",
                   ("attribute_gt", "attribute_detected"), "detector_box", "clip", "fraction", ("accuracy",), True),
        MetricSpec("fid", "FID and KID against the real images", ("fid",), None, "eval", "distance", ("fid",),
                   False),
    )
}
# The metric writing each file stem (the report reads files, the config names metrics).
_BY_FILE = {stem: spec for spec in METRICS.values() for stem in spec.files}


def metric_spec(metric_id: str) -> MetricSpec:
    """The spec of a config metric id, or one InputError listing the ids there are."""
    if metric_id not in METRICS:
        raise InputError(None, f"unknown metric {metric_id!r}; available: {', '.join(METRICS)}",
                         "use one of the available ids in experiments.<name>.metrics", "metrics")
    return METRICS[metric_id]


def metric_of_file(stem: str) -> MetricSpec:
    """The spec of the metric that writes ``metrics/{experiment}/{stem}.json``."""
    if stem not in _BY_FILE:
        raise InputError(None, f"unknown metric file {stem!r}; available: {', '.join(_BY_FILE)}",
                         "name a file a metric writes (instdiff/metrics/registry.py)")
    return _BY_FILE[stem]


def detector_of(family: str) -> str | None:
    """The detector key scored by metric ``family``: a metric id, or the prefix shared by several ids ("pim" for
    pim_point and pim_scribble, which one rule serves), whose detectors must agree."""
    if family in METRICS:
        return METRICS[family].detector
    found = {spec.detector for spec in METRICS.values() if spec.id.startswith(f"{family}_")}
    if len(found) != 1:
        raise InputError(None, f"metric {family!r} names {len(found)} detectors; available: {', '.join(METRICS)}",
                         "name a metric id, or a prefix whose metrics share one detector")
    return found.pop()


def metric_files(metric_ids: list[str]) -> list[str]:
    """The file stems written by these metric ids, in order."""
    return [stem for metric_id in metric_ids for stem in metric_spec(metric_id).files]


def scored_attribute(experiments: Mapping[str, Mapping[str, Any]], experiment: str) -> str:
    """The attribute list the attribute metric scores for ``experiment``: textures when its phrases carry a texture
    prefix (the phrase's first word is then the texture), else colours. A JPEG copy's phrases are its source's, an
    external experiment's those of the experiment whose layouts it follows."""
    exp = experiments[experiment]
    if exp["kind"] in ("jpeg_copy", "external"):
        return scored_attribute(experiments, exp["source" if exp["kind"] == "jpeg_copy" else "layouts"])
    return "textures" if "textures" in exp.get("attributes", []) else "colors"
