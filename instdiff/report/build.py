"""Cells from metric files and published numbers: our values (with bootstrap or seed CIs), the published rows, the
Δ rows and the footer naming the run manifest.

Metric files (``metrics/{experiment}/{stem}.json``, docs/architecture.md) hold ``values`` as fractions for
``ap``/``ap50``/``ar``/``pim``/``accuracy`` (what pycocotools and the PiM/attribute code compute), cosines for
``clip_local`` and raw distances for ``fid``/``kid_*``; tables print the paper's units (percent for the fractions).
Optional ``per_image`` records (``[{"image_id": ..., "<value key>": x}, ...]``) give bootstrap 95% CIs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from instdiff.core.errors import InputError
from instdiff.core.io import read_json
from instdiff.core.provenance import manifest_summary
from instdiff.core.stats import bootstrap_mean_ci, per_image_values, seeds_mean_ci
from instdiff.generation.precision import describe as describe_precision
from instdiff.metrics.record import MetricRecord, read_record
from instdiff.metrics.null_model import CLOSE_SHARE, null_is_close
from instdiff.metrics.registry import metric_of_file
from instdiff.report.cells import NOT_REPORTED, Cell, Row, Table
from instdiff.report.paper import PaperMethod, PaperResults
from instdiff.report.specs import Column, OursRow, TableSpec, ours_rows


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
    extra_rows: tuple[OursRow, ...] = ()      # rows of other generators, external images, the null model (config)
    banner: str | None = None                 # a run of tiny models or synthetic data (instdiff.core.banner)
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
        return Cell(status="not_implemented")        # the column's note says why
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
        if key not in data.values and col.optional:
            return Cell(status="not_reported")          # a count this writer does not record: no column
        if key not in data.values:
            raise InputError(path, f"'values' has no {key!r}", "rerun the metric rule (or fix the key)", f"values.{key}")
        v = data.values[key]
        if not math.isfinite(v):
            return Cell(status="missing", note=ctx.footnote(_undefined_note(path, key, v, data.values)))
        values.append(v * scale)
        per_image, n_images, intervals = data.per_image, data.n_images, data.intervals or {}
        if data.manifest:
            ctx._manifests[str(path)] = data.manifest
        ctx._n_images[f"{exp}/{stem}"] = n_images
    if len(values) > 1:                                         # several generation seeds
        iv = seeds_mean_ci(values, bounds=metric_of_file(stem).bounds(key, scale))  # inside the metric's range
        sd = float(np.std(values, ddof=1))
        seeds = ctx.footnote(
            f"{col.label.replace('^', '').replace('_', '')} of {row.label.format(paper='ours')}: mean of "
            f"{len(values)} generation seeds ({', '.join(f'{e} {v:.{col.decimals}f}' for e, v in zip(experiments, values))}; "
            f"seed spread sd {sd:.{col.decimals}f}); [low, high]: a t-interval across the seeds on the logit scale "
            "(inside the metric's range), not an image bootstrap.")
        return Cell(iv.value, iv.low, iv.high, n=iv.n, seeds=seeds)
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


def table_measures(spec: TableSpec) -> set[str]:
    """The measures a table shows: its column ids and the published measures its columns compare against."""
    return {c.id for c in spec.columns} | {c.reference_measure for c in spec.columns}


def _marks(ctx: Context, notes: Sequence[str]) -> str:
    marks = sorted({ctx.footnote(n) for n in notes})
    return f" [{', '.join(map(str, marks))}]" if marks else ""


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
    # One note per fact: a caveat shared by several rows is one note (its text stands alone); notes about measures
    # this table does not show are left out.
    shown = table_measures(spec)
    notes = [ctx.paper.caveats[n].text for n in m.notes if ctx.paper.caveats[n].applies(shown)]
    notes += [f"{m.display_label}: {m.note}"] if m.note else []
    return Row(m.display_label + suffix + _marks(ctx, notes), kind, cells, source=m.source)


UNCERTAIN_DELTA = "No Δ against a published value flagged (?) or (!): the references doubt it (see its row's notes)."


def _delta_row(ctx: Context, spec: TableSpec, ours: Row, cols: Sequence[str], method: PaperMethod, reference: str) -> Row | None:
    """ours − ``method``'s published values, column by column; "–" where the subtraction means nothing: no
    published value, a value flagged (?) or (!), or a measure a caveat marks ``no_delta`` (FID, whose protocol the
    paper does not publish). A recall column subtracts the paper's AR (``Column.compares``): both or neither."""
    cells, notes, any_value = {}, [], False
    for c in spec.columns:
        measure = c.reference_measure
        o, p = ours.cells[c.id], method.values.get(measure)
        if c.id not in cols or p is None:
            cells[c.id] = Cell(status="not_reported")
            continue
        blocking = [ctx.paper.caveats[n] for n in method.notes
                    if ctx.paper.caveats[n].no_delta and ctx.paper.caveats[n].applies([measure])]
        if o.status == "missing":
            cells[c.id] = replace(o)
        elif o.status != "ok" or o.value is None:
            cells[c.id] = Cell(status="not_reported")      # nothing of ours to subtract from: no note needed
        elif measure in method.uncertain or measure in method.conflicts:
            notes.append(UNCERTAIN_DELTA)
            cells[c.id] = Cell(status="not_reported")
        elif blocking:
            notes += [b.text for b in blocking]     # the caveat's own note (it says that no Δ is printed)
            cells[c.id] = Cell(status="not_reported")
        else:
            lo = None if o.low is None else o.low - p
            hi = None if o.high is None else o.high - p
            cells[c.id] = Cell(o.value - p, lo, hi)
            any_value = True
    if not any_value:
        return None
    # The label names both rows: which reference this Δ subtracts.
    return Row(f"{ours.label.split(' [')[0]} − {reference}" + _marks(ctx, notes), "delta", cells, section="delta",
               reference=reference)


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
    """Main rows (published methods, the reproduction, ours), Δ rows (ours − a named published row) and
    supplementary rows (variants of ours)."""
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
    deltas: list[Row] = []
    for orow in ours_rows(spec, ctx.extra_rows):
        cols = orow.columns or tuple(c.id for c in spec.columns)
        if orow.stored_png_only and ctx.stored_format != "PNG":
            continue  # the images are stored as JPEG: re-compressing them again means nothing
        if orow.variant or orow.optional or orow.method:
            # An extra row (JPEG copies, a sensitivity check, another method) shows what the config computes, "–"
            # elsewhere, and is left out when it computes nothing: no row of "missing" nobody asked for.
            cols = tuple(c for c in cols if _row_configured(ctx, spec, orow, (c,)))
            if not cols:
                continue
        cells = {c.id: (_our_cell(ctx, c, orow) if c.id in cols else Cell(status="not_reported")) for c in spec.columns}
        note = orow.note.format(stored=ctx.stored_format) if orow.note else None
        published = ctx.paper.methods.get(orow.paper_method or "")
        label = orow.label.format(paper=published.label if published else orow.method)
        ours = Row(label + _marks(ctx, [note] if note else []), orow.kind, cells, source="this run",
                   section=orow.section)
        rows.append(ours)
        if orow.section != "main":
            continue
        if orow.paper_method and orow.paper_method in ctx.paper.methods:
            m = ctx.paper.methods[orow.paper_method]
            d = _delta_row(ctx, spec, ours, cols, m, m.display_label + " (paper)")
            deltas += [d] if d else []
            if final is not None and orow.delta_vs_reproduction:
                d = _delta_row(ctx, spec, ours, cols, final, final.display_label)
                deltas += [d] if d else []
    _flag_near_null(ctx, spec, rows)
    rows += deltas
    footer = _footer(spec, ctx)
    return Table(spec, rows, list(ctx._footnotes), footer, banner=ctx.banner)


# The counts a metric file keeps of what it could not score: (unmatched, of all) per value key.
_UNMATCHED_COUNTS = (("n_unmatched_gt", "n_instances"), ("n_unmatched", "n_conditioned"), ("n_unmatched", "n_instances"))


def _undefined_note(path: Path, key: str, value: float, values: dict) -> str:
    """Why a metric file's value is undefined, from its own counts (e.g. "65/65 instances unmatched") where it keeps
    them, else where to look."""
    for unmatched, total in _UNMATCHED_COUNTS:
        if unmatched in values and total in values and math.isfinite(values[unmatched]):
            return (f"{path}: {key!r} is undefined: {int(values[unmatched])}/{int(values[total])} instances unmatched "
                    "(no detection of their class above the confidence floor), so nothing was scored.")
    return f"{path}: value {key!r} is {value!r}; see the rule's log"


def _flag_near_null(ctx: Context, spec: TableSpec, rows: Sequence[Row]) -> None:
    """Mark each of our main cells that the null model (blank grey images of the same layouts) comes close to
    (instdiff.metrics.null_model.null_is_close): such a number says little about the images, since a blank image
    scores nearly as much under our detector and encoder."""
    null = next((r for r in rows if r.kind == "null" and r.section == "main"), None)
    if null is None:
        return
    for row in rows:
        if row.kind not in ("ours", "upper bound", "external") or row.section != "main":
            continue
        for c in spec.columns:
            cell, floor = row.cells.get(c.id), null.cells.get(c.id)
            if cell is None or floor is None or cell.status != "ok" or floor.status != "ok":
                continue
            if cell.value is None or floor.value is None or not c.higher_is_better:
                continue
            if null_is_close(floor.value, cell.value, null_high=floor.high, real_low=cell.low):
                row.cells[c.id] = replace(cell, near_null=ctx.footnote(
                    f"(≈null): the null model (blank grey images of the same layouts) scores at least "
                    f"{int(CLOSE_SHARE * 100)}% of this value, or its interval reaches this one's: under our "
                    "detector and encoder this number barely tells these images from blank ones "
                    "(instdiff/metrics/null_model.py)."))


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
                 + kid + " A number's [low, high]: bootstrap 95% CI over images (or t-interval across seeds); [n] "
                 "alone: note n.")
    lines.append(f"Legend: {NOT_REPORTED} not reported / not applicable; (?) published value the references flag as "
                 f"uncertain (the row's notes say why; config/{Path(ctx.paper.path).name}, "
                 "docs/published-numbers.md); (!) published value contradicting the paper's own 'vs. prev. SoTA' "
                 "arithmetic (its note gives the numbers); published values keep their published digits; each Δ row "
                 "is ours − the published row it names, in the column's units.")
    srcs = sorted({ctx.paper.methods[m].source for m in (*spec.paper_methods, *spec.reproduction)
                   if m in ctx.paper.methods})
    for s in srcs:
        lines.append(f"Source [{s}]: {ctx.paper.sources[s].get('citation', '')}")
    return lines
