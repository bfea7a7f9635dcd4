"""What each paper table shows: its columns (measure id, header, metric file and value key) and the rows of our
numbers (:class:`OursRow`), as data. Cells are built in :mod:`instdiff.report.build`, rendered in
:mod:`instdiff.report.render`; the rules' input lists come from :mod:`instdiff.report.inputs`.

A table has three parts: the main table (one row per method: the published rows, then ours, as the paper
measured), the Δ table (ours − a named published row, only where the subtraction means something) and the
supplementary table (variants of our rows: JPEG-75 copies, corrected metrics, sensitivity checks, full resolution).
Rows of other generators, external image sets and the null model come from the config's experiments
(:func:`instdiff.report.inputs.extra_methods`), not from this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from instdiff.metrics.registry import metric_of_file

AR_NOTE = ("Recall two ways on the same detections: AR@100 is COCO's (pycocotools stats[8], IoU 0.50:0.95, 100 "
           "detections per image); R is ultralytics' (recall at the confidence of maximum F1, IoU 0.5). The paper does "
           "not define its AR; we infer it is ultralytics' R and show it in the R column: the paper's upper bound AR "
           "61.0 for yolov8m matches ultralytics' R (0.563 for yolov8s, 0.639 for yolov8l in its issue threads), while "
           "COCO AR@100 of a detector at AP 50 is about 67 (docs/published-numbers.md, 'AR'). Because the mapping is "
           "an inference, Δ subtracts the paper's AR from both recall columns.")
IOU_NOTE = ("The paper's mask IoU has no published definition or code (docs/published-numbers.md, 'Marks and cells the "
            "paper leaves unexplained'): we do not compute it.")
MAIN, SUPPLEMENTARY = "main", "supplementary"


@dataclass(frozen=True)
class Column:
    """One measure of a table: paper id ``<format>.<key>`` and where our value comes from."""

    id: str                      # measure id in paper_results.yaml, e.g. "box.ap"
    label: str                   # header text (^ and _ mark super- and subscripts for LaTeX)
    stem: str | None             # metric file stem for our value (None: no implementation exists)
    key: str                     # key in the metric file's ``values``
    decimals: int = 1
    note: str | None = None       # a footnote on the header (what the column means)
    compares: str | None = None   # the published measure Δ subtracts in this column (default: ``id``)
    optional: bool = False        # a count a metric file may not carry: absent gives "–" (and no column), not an error

    @property
    def format(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def reference_measure(self) -> str:
        return self.compares or self.id

    @property
    def higher_is_better(self) -> bool | None:
        """The direction of the metric writing the column (None: no implementation)."""
        return metric_of_file(self.stem).higher_is_better if self.stem else None


@dataclass(frozen=True)
class OursRow:
    """A row of our numbers: ``stems`` replaces a column's stem (variant rows), ``experiment`` forces one."""

    label: str
    stems: dict[str, str] = field(default_factory=dict)     # column id -> metric stem
    keys: dict[str, str] = field(default_factory=dict)      # column id -> value key
    experiment: str | None = None                            # a format whose experiments to use ("real")
    paper_method: str | None = None                          # Δ against this paper method (and the reproduction)
    columns: tuple[str, ...] | None = None                   # only these columns (others "–")
    variant: str | None = None        # experiments "<format>@<variant>" (jpeg75: JPEG copies); row left out if none
    stored_png_only: bool = False     # a row about re-compressing PNGs: left out when images are stored as JPEG
    optional: bool = False            # a sensitivity row: left out when no experiment computes its metric
    section: str = MAIN               # main | supplementary
    note: str | None = None           # what the row is (its label stays short); "{stored}" is the stored format
    method: str | None = None         # experiments "<format>:<method>" (another generator, external images, null)
    kind: str = "ours"                # ours | upper bound | null | external (the HTML colours rows by it)
    delta_vs_reproduction: bool = True

    def format_key(self, col: "Column") -> str:
        fmt = self.experiment or col.format
        if self.method:
            return f"{fmt}:{self.method}"
        return f"{fmt}@{self.variant}" if self.variant else fmt


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    columns: tuple[Column, ...]
    ours: tuple[OursRow, ...]
    paper_methods: tuple[str, ...]                           # published rows, in order
    # The student reproduction's dated revisions, oldest first; Δ ours − reproduction uses the last (final) one.
    reproduction: tuple[str, ...] = ("reproduction_2024_05_27", "reproduction")
    upper_bound_method: str | None = "upper_bound"

    def metric_stems(self) -> set[str]:
        stems = {c.stem for c in self.columns if c.stem}
        for row in self.ours:
            stems |= set(row.stems.values())
        return stems

    def column(self, cid: str) -> Column:
        return next(c for c in self.columns if c.id == cid)


_ORDER = {"ours": 0, "external": 1, "upper bound": 2, "null": 3}


def ours_rows(spec: TableSpec, extra: Sequence[OursRow] = ()) -> list[OursRow]:
    """The table's rows of our numbers: the spec's, with the config's other methods (another generator, external
    images, the null model) among the main rows, ordered generated, external, upper bound, null; variants after."""
    rows = list(spec.ours) + list(extra)
    return sorted(rows, key=lambda r: (r.section != "main", _ORDER.get(r.kind, 1)))


def _pim(fmt: str, label: str, variant: str) -> Column:
    return Column(f"{fmt}.pim", label, f"pim_{'point' if fmt == 'point' else 'scribble'}_{variant}", "pim", 2)


def _unmatched(fmt: str) -> Column:
    # PiM's paper variant drops GT instances no detection matched; the count says how many a PiM value leaves out.
    return Column(f"{fmt}.unmatched", f"unmatched ({'points' if fmt == 'point' else 'scribbles'})",
                  f"pim_{fmt}_paper", "n_unmatched_gt", 0, optional=True)


MISS_NOTE = ("Detected-box crops: a GT instance is matched only to a detection of its own class with confidence >= "
             "detection.attribute_conf (0.3, GenEval's threshold) and box IoU >= 0.5; an instance without a match is "
             "a miss, left out of accuracy and CLIP_local alike and counted here (GT-box crops have no misses).")
STORED_NOTE = "Our generated images, scored as stored ({stored}; generation.image_format)."
JPEG_NOTE = ("JPEG-75 copies of the same generated images (not regenerated): the format the original scripts saved "
             "and scored.")
SEG_NOTE = "Box AP of the segmentation model's boxes (yolov8m-seg) instead of yolov8m's: a detector sensitivity check."
REAL_NOTE = "Real val2017 images squashed to 512x512 with the 512x512 annotations, scored by the same detector."
FULLRES_NOTE = ("Real val2017 images at full resolution against the official annotation file: the protocol of "
                "ultralytics' published yolov8m / yolov8m-seg numbers (checks the detector setup).")
PIM_PAPER_NOTE = "PiM as the authors' eval_pim.py computes it (the paper's protocol)."
PIM_CORRECTED_NOTE = ("PiM corrected: the test points are the points (or scribble) the generator was conditioned "
                      "on, and a point outside the canvas is a miss (instdiff/metrics/pim.py; docs/published-numbers.md, "
                      "'PiM').")
GT_CROPS_NOTE = "Attribute crops cut at the ground-truth boxes, as in the paper."
DETECTED_NOTE = "Attribute crops cut at detected boxes (corrected: a crop shows what was generated there)."
PNG_JPEG_NOTE = "The stored PNGs round-tripped through JPEG-75 in memory before FID."
KID_NOTE = "KID (x 1000) on the same features as FID."

ID = "instancediffusion"
_BOX = ("box.ap", "box.ap50", "box.ar100", "box.r")
_MASK = ("mask.ap", "mask.ap50", "mask.ar100", "mask.r")
_SEG = {c: "coco_bbox_segmodel" for c in _BOX}
_PIM_CORR = {"point.pim": "pim_point_corrected", "scribble.pim": "pim_scribble_corrected",
             "point.unmatched": "pim_point_corrected", "scribble.unmatched": "pim_scribble_corrected"}
_PIM_COLS = ("point.pim", "point.unmatched", "scribble.pim", "scribble.unmatched")
_ATTR = ("colors.accuracy", "colors.clip_local", "textures.accuracy", "textures.clip_local")
_FIDS = ("box", "mask", "point", "scribble")
S = SUPPLEMENTARY


def _recall(fmt: str) -> tuple[Column, Column]:
    stem = "coco_bbox" if fmt == "box" else "coco_segm"
    return (Column(f"{fmt}.ar100", f"AR@100^{fmt} (COCO)", stem, "ar100", note=AR_NOTE, compares=f"{fmt}.ar"),
            Column(f"{fmt}.r", f"R^{fmt} (ultralytics; paper's AR, our inference)", stem, "r", note=AR_NOTE,
                   compares=f"{fmt}.ar"))


TABLES: dict[str, TableSpec] = {
    "table1": TableSpec(
        "table1", "Table 1 (boxes): box inputs, YOLOv8m box AP / AP50 / AR and FID on COCO val2017",
        (Column("box.ap", "AP^box", "coco_bbox", "ap"), Column("box.ap50", "AP_50^box", "coco_bbox", "ap50"),
         *_recall("box"), Column("box.fid", "FID", "fid", "fid", 2)),
        (OursRow("InstanceDiffusion (ours)", paper_method=ID, note=STORED_NOTE),
         OursRow("Upper bound (ours)", experiment="real", paper_method="upper_bound", columns=_BOX,
                 kind="upper bound", note=REAL_NOTE),
         OursRow("InstanceDiffusion, JPEG-75 copies", variant="jpeg75", section=S, note=JPEG_NOTE),
         OursRow("InstanceDiffusion, yolov8m-seg boxes", optional=True, stems=_SEG, columns=_BOX, section=S,
                 note=SEG_NOTE),
         OursRow("Upper bound, full resolution", experiment="real_fullres", optional=True, columns=_BOX, section=S,
                 kind="upper bound", note=FULLRES_NOTE),
         OursRow("Upper bound, yolov8m-seg boxes", experiment="real", optional=True, stems=_SEG, columns=_BOX,
                 section=S, kind="upper bound", note=SEG_NOTE)),
        ("upper_bound", "gligen", "gligen_star", ID, "instancediffusion_hybrid"),
    ),
    "table2": TableSpec(
        "table2", "Table 2 (masks): mask inputs, YOLOv8m-seg mask AP / AP50 / AR, mask IoU and FID on COCO val2017",
        (Column("mask.iou", "IoU", None, "iou", note=IOU_NOTE), Column("mask.iou_b", "IoU (2nd)", None, "iou_b", note=IOU_NOTE),
         Column("mask.ap", "AP^mask", "coco_segm", "ap"), Column("mask.ap50", "AP_50^mask", "coco_segm", "ap50"),
         *_recall("mask"), Column("mask.fid", "FID", "fid", "fid", 2)),
        (OursRow("InstanceDiffusion (ours)", paper_method=ID, note=STORED_NOTE),
         OursRow("Upper bound (ours)", experiment="real", paper_method="upper_bound", columns=_MASK,
                 kind="upper bound", note=REAL_NOTE),
         OursRow("InstanceDiffusion, JPEG-75 copies", variant="jpeg75", section=S, note=JPEG_NOTE),
         OursRow("Upper bound, full resolution", experiment="real_fullres", optional=True, columns=_MASK, section=S,
                 kind="upper bound", note=FULLRES_NOTE)),
        ("upper_bound", "controlnet", "densediffusion", "spatext", ID),
    ),
    "table3": TableSpec(
        "table3", "Table 3 (PiM): point and scribble inputs, points-in-mask (PiM) and FID",
        (_pim("point", "PiM (points)", "paper"), _unmatched("point"), Column("point.fid", "FID (points)", "fid", "fid", 2),
         _pim("scribble", "PiM (scribbles)", "paper"), _unmatched("scribble"),
         Column("scribble.fid", "FID (scribbles)", "fid", "fid", 2)),
        (OursRow("InstanceDiffusion (ours)", paper_method=ID, note=STORED_NOTE + " " + PIM_PAPER_NOTE),
         OursRow("Real images (ours)", experiment="real", columns=_PIM_COLS, kind="upper bound",
                 note=REAL_NOTE + " " + PIM_PAPER_NOTE),
         OursRow("InstanceDiffusion, JPEG-75 copies", variant="jpeg75", section=S, note=JPEG_NOTE),
         OursRow("InstanceDiffusion, PiM corrected", stems=_PIM_CORR, columns=_PIM_COLS, section=S,
                 note=PIM_CORRECTED_NOTE),
         OursRow("Real images, PiM corrected", experiment="real", columns=_PIM_COLS, stems=_PIM_CORR, section=S,
                 kind="upper bound", note=PIM_CORRECTED_NOTE)),
        ("gligen_star", ID, "instancediffusion_hybrid"),
        upper_bound_method=None,
    ),
    "table4": TableSpec(
        "table4", "Table 4 (attribute binding): colour and texture accuracy and CLIP_local on instance crops",
        (Column("colors.accuracy", "Acc_color", "attribute_gt", "accuracy"),
         Column("colors.clip_local", "CLIP_local (color)", "attribute_gt", "clip_local", 3),
         Column("colors.misses", "misses (color)", "attribute_gt", "n_unmatched", 0, note=MISS_NOTE),
         Column("textures.accuracy", "Acc_texture", "attribute_gt", "accuracy"),
         Column("textures.clip_local", "CLIP_local (texture)", "attribute_gt", "clip_local", 3),
         Column("textures.misses", "misses (texture)", "attribute_gt", "n_unmatched", 0, note=MISS_NOTE)),
        (OursRow("InstanceDiffusion (ours)", paper_method="instancediffusion_attributes", columns=_ATTR,
                 note=STORED_NOTE + " " + GT_CROPS_NOTE),
         OursRow("InstanceDiffusion, JPEG-75 copies", variant="jpeg75", columns=_ATTR, section=S, note=JPEG_NOTE),
         OursRow("InstanceDiffusion, detected-box crops", section=S, note=DETECTED_NOTE,
                 stems={f"{a}.{k}": "attribute_detected" for a in ("colors", "textures")
                        for k in ("accuracy", "clip_local", "misses")})),
        ("instancediffusion_attributes",),
        upper_bound_method=None,
    ),
    "fid": TableSpec(
        "fid", "FID and KID per input format (generated vs real val2017 at 512x512; images as stored and as JPEG-75)",
        tuple(Column(f"{f}.fid", f"FID ({f})", "fid", "fid", 2) for f in _FIDS),
        (OursRow("InstanceDiffusion (ours)", paper_method=ID, note=STORED_NOTE),
         OursRow("InstanceDiffusion, PNG to JPEG-75 in memory", keys={f"{f}.fid": "fid_jpeg75" for f in _FIDS},
                 stored_png_only=True, section=S, note=PNG_JPEG_NOTE),
         OursRow("InstanceDiffusion, JPEG-75 copies", variant="jpeg75", section=S, note=JPEG_NOTE),
         OursRow("KID x 1000 (ours)", keys={f"{f}.fid": "kid_mean" for f in _FIDS}, section=S,
                 note=KID_NOTE + " " + STORED_NOTE),
         OursRow("KID x 1000, PNG to JPEG-75 in memory", stored_png_only=True, section=S, note=KID_NOTE + " " + PNG_JPEG_NOTE,
                 keys={f"{f}.fid": "kid_mean_jpeg75" for f in _FIDS})),
        ("gligen", "gligen_star", ID, "instancediffusion_hybrid"),
        reproduction=(), upper_bound_method=None,
    ),
}
# File stems under tables/ (and the rule names table_<key>; targets table1..table4, fid_table).
TABLE_FILES = {"table1": "table1_boxes", "table2": "table2_masks", "table3": "table3_pim",
               "table4": "table4_attribute_binding", "fid": "fid_by_format"}
TABLE_STEMS = {name: sorted(spec.metric_stems()) for name, spec in TABLES.items()}
