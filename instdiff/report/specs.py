"""What each paper table shows: its columns (measure id, header, metric file and value key) and the rows of our
numbers (:class:`OursRow`), as data. Cells are built in :mod:`instdiff.report.build`, rendered in
:mod:`instdiff.report.render`; the rules' input lists come from :mod:`instdiff.report.inputs`."""

from __future__ import annotations

from dataclasses import dataclass, field

from instdiff.metrics.registry import metric_of_file

AR_NOTE = ("AR is shown two ways on the same detections: AR@100 is COCO's (pycocotools stats[8], IoU 0.50:0.95, 100 "
           "detections per image); R is ultralytics' (ap_per_class: recall at the confidence of maximum F1, IoU 0.5). "
           "The paper's AR column is believed to be ultralytics' R and is shown under R: its upper bound 61.0 for "
           "yolov8m matches ultralytics' R (its threads report R 0.563 for yolov8s, 0.639 for yolov8l), while COCO "
           "AR@100 of a detector at AP 50 is about 67; the student reproduction's real-image AR 68.6 fits AR@100 and "
           "is shown there.")


@dataclass(frozen=True)
class Column:
    """One measure of a table: paper id ``<format>.<key>`` and where our value comes from."""

    id: str                      # measure id in paper_results.yaml, e.g. "box.ap"
    label: str                   # header text
    stem: str | None             # metric file stem for our value (None: no implementation exists)
    key: str                     # key in the metric file's ``values``
    decimals: int = 1
    note: str | None = None       # a footnote on the header (what the column means)

    @property
    def format(self) -> str:
        return self.id.split(".", 1)[0]

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
    paper_method: str | None = None                          # delta against this paper method
    columns: tuple[str, ...] | None = None                   # only these columns (others "–")
    variant: str | None = None        # experiments "<format>@<variant>" (jpeg75: JPEG copies); row left out if none
    stored_png_only: bool = False     # a row about re-compressing PNGs: left out when images are stored as JPEG
    optional: bool = False            # a sensitivity row: left out when no experiment computes its metric

    def format_key(self, col: "Column") -> str:
        fmt = self.experiment or col.format
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


def _pim(fmt: str, label: str, variant: str) -> Column:
    return Column(f"{fmt}.pim", label, f"pim_{'point' if fmt == 'point' else 'scribble'}_{variant}", "pim", 2)


MISS_NOTE = ("detected-box crops: a GT instance is matched only to a detection of its own class with confidence >= "
             "detection.attribute_conf (0.3, GenEval's threshold) and box IoU >= 0.5; an instance without a match is "
             "a miss, left out of accuracy and CLIP_local alike and counted here (GT-box crops have no misses).")
ID = "instancediffusion"
TABLES: dict[str, TableSpec] = {
    "table1": TableSpec(
        "table1", "Table 1 (boxes): box inputs, YOLOv8m box AP / AP50 / AR and FID on COCO val2017",
        (Column("box.ap", "AP^box", "coco_bbox", "ap"), Column("box.ap50", "AP50^box", "coco_bbox", "ap50"),
         Column("box.ar100", "AR@100^box (COCO)", "coco_bbox", "ar100", note=AR_NOTE),
         Column("box.r", "R^box (ultralytics)", "coco_bbox", "r", note=AR_NOTE),
         Column("box.fid", "FID (box)", "fid", "fid", 2)),
        (OursRow("InstanceDiffusion (ours, images as stored: {stored})", paper_method=ID),
         OursRow("InstanceDiffusion (ours, JPEG-75 copies of the same images)", paper_method=ID, variant="jpeg75"),
         OursRow("InstanceDiffusion (ours, box AP (yolov8m-seg boxes), sensitivity)", paper_method=ID, optional=True,
                 stems={c: "coco_bbox_segmodel" for c in ("box.ap", "box.ap50", "box.ar100", "box.r")},
                 columns=("box.ap", "box.ap50", "box.ar100", "box.r")),
         OursRow("Upper bound, real images at full resolution, official annotations (ours)", experiment="real_fullres",
                 paper_method="upper_bound", optional=True, columns=("box.ap", "box.ap50", "box.ar100", "box.r")),
         OursRow("Upper bound, real images, squashed to 512x512 (ours)", experiment="real", paper_method="upper_bound",
                 columns=("box.ap", "box.ap50", "box.ar100", "box.r")),
         OursRow("Upper bound, real images, squashed to 512x512 (ours, box AP (yolov8m-seg boxes), sensitivity)",
                 experiment="real", paper_method="upper_bound", optional=True,
                 stems={c: "coco_bbox_segmodel" for c in ("box.ap", "box.ap50", "box.ar100", "box.r")},
                 columns=("box.ap", "box.ap50", "box.ar100", "box.r"))),
        ("upper_bound", "gligen", "gligen_star", ID, "instancediffusion_hybrid"),
    ),
    "table2": TableSpec(
        "table2", "Table 2 (masks): mask inputs, YOLOv8m-seg mask AP / AP50 / AR, mask IoU and FID on COCO val2017",
        (Column("mask.iou", "IoU", None, "iou"), Column("mask.iou_b", "IoU (2nd)", None, "iou_b"),
         Column("mask.ap", "AP^mask", "coco_segm", "ap"), Column("mask.ap50", "AP50^mask", "coco_segm", "ap50"),
         Column("mask.ar100", "AR@100^mask (COCO)", "coco_segm", "ar100", note=AR_NOTE),
         Column("mask.r", "R^mask (ultralytics)", "coco_segm", "r", note=AR_NOTE),
         Column("mask.fid", "FID (mask)", "fid", "fid", 2)),
        (OursRow("InstanceDiffusion (ours, images as stored: {stored})", paper_method=ID),
         OursRow("InstanceDiffusion (ours, JPEG-75 copies of the same images)", paper_method=ID, variant="jpeg75"),
         OursRow("Upper bound, real images at full resolution, official annotations (ours)", experiment="real_fullres",
                 paper_method="upper_bound", optional=True, columns=("mask.ap", "mask.ap50", "mask.ar100", "mask.r")),
         OursRow("Upper bound, real images, squashed to 512x512 (ours)", experiment="real", paper_method="upper_bound",
                 columns=("mask.ap", "mask.ap50", "mask.ar100", "mask.r"))),
        ("upper_bound", "controlnet", "densediffusion", "spatext", ID),
    ),
    "table3": TableSpec(
        "table3", "Table 3 (PiM): point and scribble inputs, points-in-mask (PiM) and FID",
        (_pim("point", "PiM (points)", "paper"), Column("point.fid", "FID (points)", "fid", "fid", 2),
         _pim("scribble", "PiM (scribbles)", "paper"), Column("scribble.fid", "FID (scribbles)", "fid", "fid", 2)),
        (OursRow("InstanceDiffusion (ours, PiM as in eval_pim.py, images as stored: {stored})", paper_method=ID),
         OursRow("InstanceDiffusion (ours, PiM as in eval_pim.py, JPEG-75 copies of the same images)", paper_method=ID,
                 variant="jpeg75", columns=("point.pim", "point.fid", "scribble.pim", "scribble.fid")),
         OursRow("InstanceDiffusion (ours, PiM corrected)", paper_method=ID,
                 stems={"point.pim": "pim_point_corrected", "scribble.pim": "pim_scribble_corrected"},
                 columns=("point.pim", "scribble.pim")),
         OursRow("Real images (ours, PiM as in eval_pim.py)", experiment="real", columns=("point.pim", "scribble.pim")),
         OursRow("Real images (ours, PiM corrected)", experiment="real", columns=("point.pim", "scribble.pim"),
                 stems={"point.pim": "pim_point_corrected", "scribble.pim": "pim_scribble_corrected"})),
        ("gligen_star", ID, "instancediffusion_hybrid"),
        upper_bound_method=None,
    ),
    "table4": TableSpec(
        "table4", "Table 4 (attribute binding): colour and texture accuracy and CLIP_local on instance crops",
        (Column("colors.accuracy", "Acc_color", "attribute_gt", "accuracy"),
         Column("colors.clip_local", "CLIP_local (color)", "attribute_gt", "clip_local", 3),
         Column("colors.misses", "missed instances (color)", "attribute_gt", "n_unmatched", 0, note=MISS_NOTE),
         Column("textures.accuracy", "Acc_texture", "attribute_gt", "accuracy"),
         Column("textures.clip_local", "CLIP_local (texture)", "attribute_gt", "clip_local", 3),
         Column("textures.misses", "missed instances (texture)", "attribute_gt", "n_unmatched", 0, note=MISS_NOTE)),
        (OursRow("InstanceDiffusion (ours, GT-box crops as in the paper, images as stored: {stored})",
                 paper_method="instancediffusion_attributes"),
         OursRow("InstanceDiffusion (ours, GT-box crops as in the paper, JPEG-75 copies of the same images)",
                 paper_method="instancediffusion_attributes", variant="jpeg75"),
         OursRow("InstanceDiffusion (ours, detected-box crops, corrected)", paper_method="instancediffusion_attributes",
                 stems={f"{a}.{k}": "attribute_detected" for a in ("colors", "textures")
                        for k in ("accuracy", "clip_local", "misses")})),
        ("instancediffusion_attributes",),
        upper_bound_method=None,
    ),
    "fid": TableSpec(
        "fid", "FID and KID per input format (generated vs real val2017 at 512x512; images as stored and as JPEG-75)",
        tuple(Column(f"{f}.fid", f"FID ({f})", "fid", "fid", 2) for f in ("box", "mask", "point", "scribble")),
        (OursRow("InstanceDiffusion (ours, images as stored: {stored})", paper_method=ID),
         OursRow("InstanceDiffusion (ours, stored PNGs round-tripped through JPEG-75 in memory)", paper_method=ID,
                 keys={f"{f}.fid": "fid_jpeg75" for f in ("box", "mask", "point", "scribble")}, stored_png_only=True),
         OursRow("InstanceDiffusion (ours, JPEG-75 copies of the same images)", paper_method=ID, variant="jpeg75"),
         OursRow("KID x 1000 (ours, images as stored: {stored})",
                 keys={f"{f}.fid": "kid_mean" for f in ("box", "mask", "point", "scribble")}),
         OursRow("KID x 1000 (ours, stored PNGs round-tripped through JPEG-75 in memory)", stored_png_only=True,
                 keys={f"{f}.fid": "kid_mean_jpeg75" for f in ("box", "mask", "point", "scribble")})),
        ("gligen", "gligen_star", ID, "instancediffusion_hybrid"),
        reproduction=(), upper_bound_method=None,
    ),
}
# File stems under tables/ (and the rule names table_<key>; targets table1..table4, fid_table).
TABLE_FILES = {"table1": "table1_boxes", "table2": "table2_masks", "table3": "table3_pim",
               "table4": "table4_attribute_binding", "fid": "fid_by_format"}
TABLE_STEMS = {name: sorted(spec.metric_stems()) for name, spec in TABLES.items()}
