"""The paper's tables rebuilt from metric files: published numbers, the student reproduction, ours and the delta.

Metric files (``metrics/{experiment}/{stem}.json``, docs/architecture.md) hold ``values`` as fractions for
``ap``/``ap50``/``ar``/``pim``/``accuracy`` (what pycocotools and the PiM/attribute code compute), cosines for
``clip_local`` and raw distances for ``fid``/``kid_*``; tables print the paper's units (percent for the fractions).
Optional ``per_image`` records (``[{"image_id": ..., "<value key>": x}, ...]``) give bootstrap 95% CIs.

A cell is never a blank standing for a number: it is a value, "–" (not reported / not applicable, said in the
legend) or "missing" with a footnote naming the file and the command that makes it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_text
from instdiff.metrics.record import MetricRecord, read_record
from instdiff.metrics.registry import metric_of_file
from instdiff.generation.precision import describe as describe_precision
from instdiff.core.provenance import manifest_summary
from instdiff.report.paper import PaperMethod, PaperResults, load_paper_results
from instdiff.core.stats import bootstrap_mean_ci, per_image_values, seeds_mean_ci

log = logging.getLogger(__name__)

AR_NOTE = ("AR is shown two ways on the same detections: AR@100 is COCO's (pycocotools stats[8], IoU 0.50:0.95, 100 "
           "detections per image); R is ultralytics' (ap_per_class: recall at the confidence of maximum F1, IoU 0.5). "
           "The paper's AR column is believed to be ultralytics' R and is shown under R: its upper bound 61.0 for "
           "yolov8m matches ultralytics' R (its threads report R 0.563 for yolov8s, 0.639 for yolov8l), while COCO "
           "AR@100 of a detector at AP 50 is about 67; the student reproduction's real-image AR 68.6 fits AR@100 and "
           "is shown there.")
NOT_REPORTED = "–"
MISSING = "missing"


# ----------------------------------------------------------------------------------------------- specs

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


# ----------------------------------------------------------------------------------------------- cells and rows

@dataclass(frozen=True)
class Cell:
    value: float | None = None
    low: float | None = None
    high: float | None = None
    status: str = "ok"              # ok | not_reported | missing | not_implemented
    uncertain: bool = False
    note: int | None = None         # footnote number for missing inputs, or of a conflicting published value
    n: int | None = None
    published: str | None = None    # a published value's own digits ("23.9", "0.250")
    conflict: bool = False          # published value contradicting the paper's own arithmetic (footnote ``note``)

    def text(self, decimals: int) -> str:
        if self.status == "missing":
            return f"{MISSING} [{self.note}]"
        if self.status != "ok" or self.value is None:
            return NOT_REPORTED
        s = self.published if self.published is not None else f"{self.value:.{decimals}f}"
        if self.low is not None and self.high is not None:
            s += f" [{self.low:.{decimals}f}, {self.high:.{decimals}f}]"
        if self.uncertain:
            s += " (?)"
        if self.conflict:
            s += f" (!) [{self.note}]"
        return s


@dataclass
class Row:
    label: str
    kind: str                       # paper | reproduction | ours | delta
    cells: dict[str, Cell]
    source: str = ""


@dataclass
class Table:
    spec: TableSpec
    rows: list[Row]
    footnotes: list[str]
    footer: list[str]

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.spec.columns

    def header(self, c: Column) -> str:
        """The column label with the number of its note, if it has one."""
        return f"{c.label} [{self.footnotes.index(c.note) + 1}]" if c.note else c.label


# ----------------------------------------------------------------------------------------------- building

@dataclass
class Context:
    """Where metric files are and which experiments feed each input format."""

    metrics_dir: Path
    experiments: dict[str, list[str]]                 # format (box, mask, ..., real) -> experiment names
    paper: PaperResults
    manifest_path: Path | None = None
    bootstrap: dict[str, Any] = field(default_factory=dict)
    kid_scale: float = 1000.0
    experiment_metrics: dict[str, list[str]] | None = None   # experiment -> metric ids of the config (None: no check)
    stored_format: str = "PNG"                                # how generated images are stored (generation.image_format)
    _footnotes: list[str] = field(default_factory=list)
    _manifests: dict[str, dict] = field(default_factory=dict)
    _n_images: dict[str, int] = field(default_factory=dict)

    def footnote(self, text: str) -> int:
        if text not in self._footnotes:
            self._footnotes.append(text)
        return self._footnotes.index(text) + 1


def metric_path(metrics_dir: Path, experiment: str, stem: str) -> Path:
    return Path(metrics_dir) / experiment / f"{stem}.json"


def read_metric_file(path: Path) -> MetricRecord:
    """A metric file, validated against the schema its writer used (:mod:`instdiff.metrics.record`)."""
    return read_record(path)


def _our_cell(ctx: Context, col: Column, row: OursRow) -> Cell:
    stem = row.stems.get(col.id, col.stem)
    key = row.keys.get(col.id, col.key)
    if stem is None:
        return Cell(status="not_implemented", note=ctx.footnote(
            f"{col.label}: the paper's number has no published definition or code; not computed"))
    experiments = ctx.experiments.get(row.format_key(col), [])
    if not experiments:
        fmt = row.format_key(col)
        return Cell(status="missing", note=ctx.footnote(
            f"no experiment for '{fmt}' with the metric that writes {stem}.json is configured: add it under "
            f"'experiments' in the config (see config/config.yaml), then run the rule that writes metrics/{fmt}/{stem}.json"))
    if ctx.experiment_metrics is not None:
        metric_id = metric_of_file(stem).id
        for exp in experiments:
            if metric_id not in ctx.experiment_metrics.get(exp, []):
                return Cell(status="missing", note=ctx.footnote(
                    f"experiment '{exp}' does not list metric '{metric_id}' in the config: add it to "
                    f"experiments.{exp}.metrics, then run `snakemake --cores 1 {metric_path(ctx.metrics_dir, exp, stem)}`"))
    scale = ctx.kid_scale if key.startswith("kid_") else metric_of_file(stem).scale(key)
    values, per_image, n_images = [], None, None
    for exp in experiments:
        path = metric_path(ctx.metrics_dir, exp, stem)
        if not path.is_file():
            return Cell(status="missing", note=ctx.footnote(
                f"{path} does not exist: run `snakemake --cores 1 {path}` (the metric rule for {stem}.json)"))
        data = read_metric_file(path)
        if key not in data.values:
            raise InputError(path, f"'values' has no {key!r}", "rerun the metric rule (or fix the key)", f"values.{key}")
        v = data.values[key]
        if not math.isfinite(v):
            return Cell(status="missing", note=ctx.footnote(f"{path}: value {key!r} is {v!r}; see the rule's log"))
        values.append(v * scale)
        per_image, n_images, intervals = data.per_image, data.n_images, data.intervals or {}
        if data.manifest:
            ctx._manifests[str(path)] = data.manifest
        ctx._n_images[f"{exp}/{stem}"] = n_images
    if len(values) > 1:                                         # several generation seeds
        iv = seeds_mean_ci(values, bounds=metric_of_file(stem).bounds(key, scale))  # inside the metric's range
        return Cell(iv.value, iv.low, iv.high, n=iv.n)
    if key in intervals:                                        # the writer's bootstrap (COCO AP needs detections)
        return Cell(values[0], intervals[key]["low"] * scale, intervals[key]["high"] * scale, n=n_images)
    pv = per_image_values(per_image if isinstance(per_image, list) else None, key)
    if len(pv) >= 2:
        iv = bootstrap_mean_ci(pv, **ctx.bootstrap)
        # The file's value is the authoritative mean; the bootstrap only supplies the interval (scaled).
        return Cell(values[0], iv.low * scale, iv.high * scale, n=n_images)
    return Cell(values[0], n=n_images)


def paper_cells(ctx: Context, m: PaperMethod, spec: TableSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """(column id -> the method's published value shown there, column id -> its measure id); ``column_of`` places
    a measure in another column (the published AR in the R column)."""
    cols = {c.id for c in spec.columns}
    placed = {m.column_of(k, ctx.paper.column_of): k for k in m.values}
    return {col: m.values[k] for col, k in placed.items() if col in cols}, {col: k for col, k in placed.items() if col in cols}


def _paper_row(ctx: Context, spec: TableSpec, method_id: str, kind: str = "paper", suffix: str = " (paper)") -> Row | None:
    m = ctx.paper.methods.get(method_id)
    if m is None:
        return None
    values, measures = paper_cells(ctx, m, spec)
    if not values:
        return None
    cells = {}
    for c in spec.columns:
        if c.id not in values:
            cells[c.id] = Cell(status="not_reported")
            continue
        k = measures[c.id]
        conflict = k in m.conflicts
        cells[c.id] = Cell(values[c.id], uncertain=k in m.uncertain, published=values[c.id].text, conflict=conflict,
                           note=ctx.footnote(ctx.paper.conflict_text(method_id, k)) if conflict else None)
    shown = set(measures.values())
    notes = [ctx.paper.caveats[n].text for n in m.notes if ctx.paper.caveats[n].applies(shown)]
    notes += [m.note] if m.note else []
    marks = sorted({ctx.footnote(f"{m.display_label}: {n}") for n in notes})
    label = m.display_label + suffix + (f" [{', '.join(map(str, marks))}]" if marks else "")
    return Row(label, kind, cells, source=m.source)


def _delta_row(spec: TableSpec, ours: Row, reference: Mapping[str, float], label: str) -> Row:
    cells = {}
    for c in spec.columns:
        o, p = ours.cells[c.id], reference.get(c.id)
        if o.status == "ok" and o.value is not None and p is not None:
            lo = None if o.low is None else o.low - p
            hi = None if o.high is None else o.high - p
            cells[c.id] = Cell(o.value - p, lo, hi)
        elif o.status == "missing":
            cells[c.id] = replace(o)
        else:
            cells[c.id] = Cell(status="not_reported")
    return Row(label, "delta", cells)


def _row_configured(ctx: Context, spec: TableSpec, orow: OursRow, cols: Sequence[str]) -> bool:
    """Whether some experiment of the row computes one of its metric files (the config says; else the files)."""
    for c in spec.columns:
        stem = orow.stems.get(c.id, c.stem)
        if c.id not in cols or stem is None:
            continue
        for exp in ctx.experiments.get(orow.format_key(c), []):
            if ctx.experiment_metrics is not None:
                if metric_of_file(stem).id in ctx.experiment_metrics.get(exp, []):
                    return True
            elif metric_path(ctx.metrics_dir, exp, stem).is_file():
                return True
    return False


def build_table(spec: TableSpec, ctx: Context) -> Table:
    """Rows: published methods, the student reproduction, ours (+ delta vs the paper), variants, upper bound."""
    ctx._footnotes.clear()
    for c in spec.columns:  # column notes first: they explain what every row of the column means
        if c.note:
            ctx.footnote(c.note)
    rows: list[Row] = []
    for mid in spec.paper_methods:
        r = _paper_row(ctx, spec, mid)
        if r:
            rows.append(r)
    for mid in spec.reproduction:
        r = _paper_row(ctx, spec, mid, kind="reproduction", suffix="")
        if r:
            rows.append(r)
    final = ctx.paper.methods.get(spec.reproduction[-1]) if spec.reproduction else None
    for orow in spec.ours:
        cols = orow.columns or tuple(c.id for c in spec.columns)
        if orow.stored_png_only and ctx.stored_format != "PNG":
            continue  # the images are stored as JPEG: re-compressing them again means nothing
        if orow.variant or orow.optional:
            # An extra row (JPEG copies, a sensitivity check) shows what the config computes, "–" elsewhere, and
            # is left out when it computes nothing: no row of "missing" for an experiment nobody asked for.
            cols = tuple(c for c in cols if _row_configured(ctx, spec, orow, (c,)))
            if not cols:
                continue
        cells = {c.id: (_our_cell(ctx, c, orow) if c.id in cols else Cell(status="not_reported")) for c in spec.columns}
        kind = "upper bound" if (orow.experiment or "").startswith("real") else "ours"
        label = orow.label.format(stored=ctx.stored_format)
        ours = Row(label, kind, cells, source="this run")
        rows.append(ours)
        if orow.paper_method and orow.paper_method in ctx.paper.methods:
            published = paper_cells(ctx, ctx.paper.methods[orow.paper_method], spec)[0]
            published = {k: v for k, v in published.items() if k in cols}
            if published:
                rows.append(_delta_row(spec, ours, published, f"Δ ours − paper: {label}"))
            repro = {k: v for k, v in (paper_cells(ctx, final, spec)[0] if final else {}).items() if k in cols}
            if repro:
                rows.append(_delta_row(spec, ours, repro, f"Δ ours − reproduction ({final.revision}): {label}"))
    footer = _footer(spec, ctx)
    return Table(spec, rows, list(ctx._footnotes), footer)


def _footer(spec: TableSpec, ctx: Context) -> list[str]:
    lines = []
    manifest = None
    if ctx.manifest_path is not None and Path(ctx.manifest_path).is_file():
        manifest = read_json(ctx.manifest_path)
        lines.append(f"Run manifest: {ctx.manifest_path}. {manifest_summary(manifest)}")
    elif ctx._manifests:
        manifest = next(iter(ctx._manifests.values()))
        lines.append(f"Run manifest (embedded in the metric files): {manifest_summary(manifest)}")
    else:
        where = ctx.manifest_path or "results/{run}/manifest.json"
        lines.append(f"Run manifest: {where} not found: run `snakemake --cores 1 {where}` (rule manifest)")
    hashes = {m.get("config_sha256") for m in ctx._manifests.values()}
    if manifest is not None:
        hashes.add(manifest.get("config_sha256"))
    if len(hashes - {None}) > 1:
        lines.append("WARNING: the metric files come from different configs (config sha256: "
                     + ", ".join(sorted(h[:12] for h in hashes if h)) + ")")
    if manifest is not None and manifest.get("precision"):
        lines.append(f"Generation precision: {describe_precision(manifest['precision'])}")
    if ctx._n_images:
        lines.append("N images: " + ", ".join(f"{k} {v}" for k, v in sorted(ctx._n_images.items())))
    kid = " KID is shown x 1000." if spec.name == "fid" else ""
    lines.append("Units: AP, AP50, AR, IoU, PiM and accuracy in percent; CLIP_local is a cosine; FID lower is better."
                 + kid + " Brackets: bootstrap 95% CI over images (or t-interval across seeds).")
    lines.append(f"Legend: {NOT_REPORTED} not reported / not applicable; (?) published value the references flag as "
                 f"uncertain (the row's numbered notes say why; config/{Path(ctx.paper.path).name}); (!) published "
                 "value contradicting the paper's own 'vs. prev. SoTA' arithmetic (its note gives the numbers); "
                 "published values keep their published digits; Δ = ours − paper or ours − reproduction.")
    srcs = sorted({ctx.paper.methods[m].source for m in (*spec.paper_methods, *spec.reproduction)
                   if m in ctx.paper.methods})
    for s in srcs:
        lines.append(f"Source [{s}]: {ctx.paper.sources[s].get('citation', '')}")
    return lines


# ----------------------------------------------------------------------------------------------- rendering

def markdown_grid(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table of texts: header, separator, one line per row (every table of the project)."""
    return (["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
            + ["| " + " | ".join(cells) + " |" for cells in rows])


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (newline line ends, the csv module's quoting) of a header and rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _texts(table: Table) -> list[list[str]]:
    return [[row.label] + [row.cells[c.id].text(c.decimals) for c in table.columns] for row in table.rows]


def to_markdown(table: Table) -> str:
    head = ["Method"] + [table.header(c) for c in table.columns]
    out = [f"## {table.spec.title}", ""] + markdown_grid(head, _texts(table))
    out.append("")
    for i, note in enumerate(table.footnotes, 1):
        out.append(f"[{i}] {note}  ")
    if table.footnotes:
        out.append("")
    out.extend(f"{line}  " for line in table.footer)
    return "\n".join(out).rstrip() + "\n"


def to_csv(table: Table) -> str:
    """Long format, one row per (row, column): value and CI as numbers, status says why a value is absent."""
    lines = []
    for row in table.rows:
        for c in table.columns:
            cell = row.cells[c.id]
            num = (lambda v: "" if v is None else repr(round(v, 6)))
            note = table.footnotes[cell.note - 1] if cell.note else ""
            lines.append([table.spec.name, row.label, row.kind, c.id, c.label, num(cell.value) if cell.status == "ok" else "",
                          num(cell.low), num(cell.high), cell.status, int(cell.uncertain), cell.n or "", row.source, note])
    return csv_text(["table", "row", "kind", "measure", "label", "value", "ci_low", "ci_high", "status", "uncertain",
                     "n_images", "source", "note"], lines)


_TEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "Δ": r"$\Delta$", "−": "$-$", "–": "--"}


def _tex(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in s)


def to_latex(table: Table) -> str:
    n = len(table.columns)
    out = [f"% {table.spec.title}", r"\begin{table}[t]", r"\centering", r"\small",
           r"\begin{tabular}{l" + "r" * n + "}", r"\toprule",
           " & ".join(["Method"] + [_tex(table.header(c)) for c in table.columns]) + r" \\", r"\midrule"]
    for cells in _texts(table):
        out.append(" & ".join(_tex(x) for x in cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if table.footnotes:  # printed under the table: the cells' and rows' [n] marks refer to them
        out += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        out += ["[" + str(i) + "] " + _tex(n_) + r"\\" for i, n_ in enumerate(table.footnotes, 1)]
        out += [r"\end{minipage}"]
    out += [r"\caption{" + _tex(table.spec.title) + "}", r"\label{tab:" + table.spec.name + "}", r"\end{table}"]
    out += ["% " + _tex(line) for line in table.footer]
    return "\n".join(out) + "\n"


def to_html(table: Table) -> str:
    """A standalone HTML page (embedded by ``snakemake --report``)."""
    import html

    head = "".join(f"<th>{html.escape(table.header(c))}</th>" for c in table.columns)
    body = []
    for row, cells in zip(table.rows, _texts(table)):
        tds = "".join(f"<td>{html.escape(x)}</td>" for x in cells[1:])
        body.append(f'<tr class="{html.escape(row.kind)}"><th>{html.escape(cells[0])}</th>{tds}</tr>')
    notes = "".join(f"<li>[{i}] {html.escape(n)}</li>" for i, n in enumerate(table.footnotes, 1))
    foot = "".join(f"<li>{html.escape(line)}</li>" for line in table.footer)
    style = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #999;"
             "padding:3px 8px;text-align:right}tr th:first-child{text-align:left}tr.ours{background:#e8f1ff}"
             "tr.delta{background:#f4f4f4;font-style:italic}tr.upper{background:#eef8ee}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(table.spec.title)}</title>"
            f"<style>{style}</style></head><body><h2>{html.escape(table.spec.title)}</h2>"
            f"<table><thead><tr><th>Method</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<ol style='list-style:none;padding:0'>{notes}</ol><ul>{foot}</ul></body></html>\n")


RENDERERS = {".csv": to_csv, ".md": to_markdown, ".tex": to_latex, ".html": to_html}


def write_table(table: Table, outputs: Iterable[str | Path]) -> None:
    for out in outputs:
        suffix = Path(out).suffix
        if suffix not in RENDERERS:
            raise InputError(out, f"unknown table format {suffix!r}", f"use one of {sorted(RENDERERS)}")
        write_text(out, RENDERERS[suffix](table))


# ----------------------------------------------------------------------------------------------- entry point

def experiments_by_format(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Which experiments feed each input format: ``report.replicates`` if given, else the experiment named after it."""
    experiments = config.get("experiments") or {}
    replicates = (config.get("report") or {}).get("replicates") or {}
    out = {}
    for fmt in ("box", "mask", "point", "scribble", "colors", "textures", "real", "real_fullres"):
        names = replicates.get(fmt) or ([fmt] if fmt in experiments else [])
        out[fmt] = [n for n in names if n in experiments]
    # JPEG copies of a format's experiments feed "<format>@jpeg<quality>" (rows with variant="jpeg75").
    for name, exp in experiments.items():
        if exp.get("kind") == "jpeg_copy":
            for fmt, names in list(out.items()):
                if "@" not in fmt and exp.get("source") in names:
                    out.setdefault(f"{fmt}@jpeg{int(exp.get('jpeg_quality', 75))}", []).append(name)
    return out


STORED_FORMATS = {"png": "PNG", "jpeg75": "JPEG-75"}


def stored_format(config: Mapping[str, Any]) -> str:
    """The label of how generated images are stored (``generation.image_format``)."""
    return STORED_FORMATS[(config.get("generation") or {}).get("image_format", "png")]


def table_inputs(name: str, config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(experiment, stem) metric files table ``name`` reads, limited to experiments whose config lists the metric."""
    spec = TABLES[name]
    by_format = experiments_by_format(config)
    experiments = config.get("experiments") or {}
    needed = []
    for orow in spec.ours:
        cols = orow.columns or tuple(c.id for c in spec.columns)
        for c in spec.columns:
            stem = orow.stems.get(c.id, c.stem)
            if c.id not in cols or stem is None:
                continue
            for exp in by_format.get(orow.format_key(c), []):
                if metric_of_file(stem).id in experiments[exp].get("metrics", []) and (exp, stem) not in needed:
                    needed.append((exp, stem))
    return needed


def make_table(name: str, config: Mapping[str, Any], metrics_dir: str | Path, paper_results: str | Path,
               outputs: Sequence[str | Path], manifest_path: str | Path | None = None) -> Table:
    """Build table ``name`` (table1..table4, fid) from the run's metric files and write every output format."""
    if name not in TABLES:
        raise InputError(None, f"unknown table {name!r}", f"use one of {sorted(TABLES)}")
    report_cfg = config.get("report") or {}
    ctx = Context(
        metrics_dir=Path(metrics_dir),
        experiments=experiments_by_format(config),
        paper=load_paper_results(paper_results),
        manifest_path=Path(manifest_path) if manifest_path else None,
        experiment_metrics={n: list(e.get("metrics", [])) for n, e in (config.get("experiments") or {}).items()},
        stored_format=stored_format(config),
        bootstrap={k: report_cfg.get("bootstrap", {}).get(k) for k in ("resamples", "seed", "level")
                   if report_cfg.get("bootstrap", {}).get(k) is not None},
    )
    table = build_table(TABLES[name], ctx)
    write_table(table, outputs)
    log.info("%s: %d rows, %d footnotes -> %s", name, len(table.rows), len(table.footnotes), ", ".join(map(str, outputs)))
    return table
