"""Report figures (matplotlib, PNG and PDF): metrics vs paper with CIs, per-category AP, PiM distributions,
qualitative grids and FID vs image format.

A figure whose inputs are missing is still drawn, with the text of what to run, so the report never shows an empty
frame pretending to be a result.

Every input is read through :mod:`instdiff.metrics.record` (the writers' schema): ``per_category`` of the COCO
files, ``per_image`` ``pim`` of the PiM files, ``values`` of the FID files.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from instdiff.core.errors import InputError
from instdiff.core.figure_files import save_tight
from instdiff.report.build import Context, build_table, read_metric_file
from instdiff.report.inputs import experiments_by_format
from instdiff.report.specs import TABLES
from instdiff.metrics.record import MetricRecord
from instdiff.metrics.registry import metric_of_file, metric_spec
from instdiff.report.paper import load_paper_results
from instdiff.core.seeding import derive_seed
from instdiff.core.stats import per_image_values

log = logging.getLogger(__name__)
_NONE = type("NoMethod", (), {"values": {}})()


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


DPI = 110


def save_figure(fig, outputs: Iterable[str | Path]) -> None:
    """Write ``fig`` to every output (format from the suffix), cropped to its tight bounding box, atomically, then
    close it: one measuring draw plus one draw per file (instdiff.core.figure_files)."""
    save_tight(fig, outputs, DPI, pdf_metadata={"CreationDate": None})


def draw_all(calls: Sequence[tuple[Callable[..., Any], tuple, dict]], workers: int = 1) -> list[Any]:
    """Run every figure call ``(function, args, kwargs)``, in ``workers`` forked processes when more than one, and
    return their results in order. Figures are independent (each writes its own files), and the figures job runs
    at the very end of the DAG, alone: a second core would otherwise sit idle. An error in one is raised here."""
    if workers <= 1 or len(calls) <= 1:
        return [f(*args, **kwargs) for f, args, kwargs in calls]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _mpl()  # imported once, before the fork, not once per worker
    with ProcessPoolExecutor(min(workers, len(calls)), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(f, *args, **kwargs) for f, args, kwargs in calls]
        return [fut.result() for fut in futures]


def _message(ax, text: str) -> None:
    """A panel's message in place of its plot, wrapped to the panel (matplotlib's wrap=True wraps at the figure's
    edge, so a long file name ran across the neighbouring panels)."""
    import textwrap

    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(text, width=34, break_long_words=True, break_on_hyphens=False), ha="center",
            va="center", fontsize=9, transform=ax.transAxes)


def grid_shape(n: int, panel_w: float, panel_h: float, max_ratio: float = 3.5) -> tuple[int, int]:
    """(rows, cols) for ``n`` panels of ``panel_w`` x ``panel_h`` inches: the fewest rows whose figure is no wider
    than ``max_ratio`` times its height (a strip of ten panels is unreadable in a report column)."""
    for rows in range(1, n + 1):
        cols = math.ceil(n / rows)
        if cols * panel_w <= max_ratio * rows * panel_h:
            return rows, cols
    return n, 1


def stamp(fig, banner: str | None) -> None:
    """The run's banner (tiny models / synthetic data) across the top of the figure, so no PNG leaves the report
    without it."""
    if banner:
        fig.suptitle(banner, color="#a00000", fontsize=8, fontweight="bold", wrap=True)


# ----------------------------------------------------------------------------------------------- Δ forest plot

UNITS = {"clip_local": "CLIP_local cosine"}          # any other Δ a table prints is in percentage points


def delta_points(config: Mapping[str, Any], metrics_dir: str | Path, paper_results: str | Path,
                 tables: Sequence[str] = ("table1", "table2", "table3", "table4")) -> list[dict[str, Any]]:
    """Every Δ the tables print (ours − a named published row), with its CI and unit: exactly the Δ rows, so the
    figure shows no Δ the tables leave out (flagged cells, FID)."""
    from instdiff.report.inputs import extra_rows

    paper = load_paper_results(paper_results)
    points = []
    for name in tables:
        ctx = Context(Path(metrics_dir), experiments_by_format(config), paper, extra_rows=extra_rows(config))
        table = build_table(TABLES[name], ctx)
        for row in table.rows:
            if row.kind != "delta":
                continue
            for c in table.columns:
                cell = row.cells[c.id]
                if cell.status == "ok" and cell.value is not None:
                    points.append({"table": name, "measure": c.id, "label": c.label, "row": row.label.split(" [")[0],
                                   "reference": row.reference, "value": cell.value, "low": cell.low,
                                   "high": cell.high, "unit": UNITS.get(c.key, "percentage points")})
    return points


def delta_forest(config: Mapping[str, Any], metrics_dir: str | Path, paper_results: str | Path,
                 outputs: Sequence[str | Path], banner: str | None = None) -> list[dict[str, Any]]:
    """A forest plot of Δ = ours − published, one point per (row, measure) with its 95% CI, one axis per unit."""
    plt = _mpl()
    points = delta_points(config, metrics_dir, paper_results)
    units = sorted({p["unit"] for p in points}, key=lambda u: u != "percentage points")
    if not points:
        fig, ax = plt.subplots(figsize=(6, 2.5))
        _message(ax, "No Δ to plot: no metric file of a row with a published counterpart yet "
                     "(run `snakemake --cores 1 table1`), or every published cell is flagged.")
        stamp(fig, banner)
        save_figure(fig, outputs)
        return points
    heights = [max(1.2, 0.32 * sum(p["unit"] == u for p in points) + 0.8) for u in units]
    fig, axes = plt.subplots(len(units), 1, figsize=(9.5, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, unit in zip(axes[:, 0], units):
        mine = [p for p in points if p["unit"] == unit]
        y = np.arange(len(mine))[::-1]
        for yi, p in zip(y, mine):
            lo = p["low"] if p["low"] is not None else p["value"]
            hi = p["high"] if p["high"] is not None else p["value"]
            color = "#3070b0" if p["reference"].startswith("InstanceDiffusion") else "#7a7a7a"
            ax.errorbar(p["value"], yi, xerr=[[p["value"] - lo], [hi - p["value"]]], fmt="o", color=color, ms=4,
                        capsize=2, lw=1)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, [f"{p['label'].replace('^', ' ').replace('_', ' ')} | {p['row']}" for p in mine], fontsize=7)
        ax.set_xlabel(f"Δ = ours − published ({unit}); bar: 95% CI of ours", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", lw=0.3)
    stamp(fig, banner)
    fig.tight_layout()
    save_figure(fig, outputs)
    return points


# ----------------------------------------------------------------------------------------------- per-category AP

def _per_category(data: MetricRecord) -> list[tuple[str, float]]:
    """(name, AP) of every category with GT (the writer stores null for the others)."""
    return [(str(r["name"]), float(r["ap"])) for r in data.per_category or []
            if r["ap"] is not None and math.isfinite(r["ap"]) and r["ap"] >= 0]


def per_category_ap(files: Sequence[str | Path], outputs: Sequence[str | Path], top: int = 80,
                    banner: str | None = None) -> None:
    """Horizontal bars of per-category AP (percent) for every COCO metric file that has ``per_category``."""
    plt = _mpl()
    series = []
    for f in files:
        f = Path(f)
        if f.is_file():
            data = read_metric_file(f)
            cats = _per_category(data)
            if cats:
                series.append((f"{data.experiment} / {f.stem}", sorted(cats, key=lambda t: t[1])[-top:]))
    if not series:
        fig, ax = plt.subplots(figsize=(6, 2))
        _message(ax, "No per-category AP: the COCO metric files have no 'per_category' key "
                     "(run the coco_bbox / coco_segm metric rules of a version that writes it).")
        stamp(fig, banner)
        save_figure(fig, outputs)
        return
    height = max(3.0, 0.12 * max(len(c) for _, c in series) + 1)
    nrows, ncols = grid_shape(len(series), 4.0, height)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[len(series):]:
        ax.axis("off")
    for ax, (title, cats) in zip(axes.flat, series):
        ax.barh([n for n, _ in cats], [100 * v for _, v in cats], color="#3070b0")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("AP (%)")
        ax.tick_params(axis="y", labelsize=6)
    stamp(fig, banner)
    fig.tight_layout()
    save_figure(fig, outputs)


# ----------------------------------------------------------------------------------------------- PiM distributions

def pim_distributions(files: Sequence[str | Path], outputs: Sequence[str | Path], paper_results: str | Path | None = None,
                      banner: str | None = None, generated: Sequence[str] | None = None):
    """Histogram of per-image PiM (percent) per PiM metric file. The paper's number is drawn only on panels of the
    paper's protocol (``pim_*_paper``) of generated images (``generated``: the experiments that generate; real
    images and corrected PiM are other quantities)."""
    plt = _mpl()
    paper = load_paper_results(paper_results) if paper_results else None
    panels = []
    for f in files:
        f = Path(f)
        if not f.is_file():
            panels.append((f"{f.parent.name}/{f.stem}", None, f"missing: run `snakemake --cores 1 {f}`"))
            continue
        data = read_metric_file(f)
        vals = per_image_values(data.per_image, "pim")
        scale = metric_of_file(f.stem).scale("pim")
        panels.append((f"{f.parent.name}/{f.stem}", [scale * v for v in vals] if vals else None,
                       None if vals else f"{f}: no per_image PiM values"))
    if not panels:
        panels.append(("PiM/none", None, "no PiM metric files are configured"))
    with_paper = []
    nrows, ncols = grid_shape(len(panels), 3.6, 3.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, vals, msg) in zip(axes.flat, panels):
        if vals is None:
            _message(ax, msg)
        else:
            ax.hist(vals, bins=np.linspace(0, 100, 21), color="#3070b0")
            ax.axvline(float(np.mean(vals)), color="k", lw=1, label=f"ours {np.mean(vals):.1f}")
            fmt = "point" if "point" in title else "scribble"
            experiment, stem = title.split("/", 1)
            protocol = stem.endswith("_paper") and (generated is None or experiment in generated)
            if protocol and paper and f"{fmt}.pim" in paper.methods.get("instancediffusion", _NONE).values:
                published = paper.methods["instancediffusion"].values[f"{fmt}.pim"]
                ax.axvline(published, color="r", ls="--", lw=1, label=f"paper {published.text}")
                with_paper.append(title)
            ax.set_xlabel("PiM per image (%)")
            ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
    stamp(fig, banner)
    fig.tight_layout()
    save_figure(fig, outputs)
    return with_paper


# ----------------------------------------------------------------------------------------------- FID vs format

def fid_vs_format(files: Sequence[str | Path], outputs: Sequence[str | Path], stored: str = "PNG",
                  banner: str | None = None) -> None:
    """FID of each experiment on the images as stored (``stored``: PNG or JPEG-75) and, for stored PNGs, on
    JPEG-75 round trips."""
    plt = _mpl()
    rows = []
    for f in files:
        f = Path(f)
        if f.is_file():
            v = read_metric_file(f).values
            rows.append((f.parent.name, v.get("fid"), v.get("fid_jpeg75")))
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows) + 2), 3.2))
    if not rows:
        _message(ax, "No FID files: run `snakemake --cores 1 fid_table` (rules fid_reference and fid).")
    else:
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r[1] if r[1] is not None else np.nan for r in rows], 0.4, label=f"as stored ({stored})")
        ax.bar(x + 0.2, [r[2] if r[2] is not None else np.nan for r in rows], 0.4, label="PNG -> JPEG-75 round trip")
        ax.set_xticks(x, [r[0] for r in rows])
        ax.set_ylabel(f"FID ({'higher' if metric_spec('fid').higher_is_better else 'lower'} is better)")
        ax.legend(fontsize=8)
    stamp(fig, banner)
    fig.tight_layout()
    save_figure(fig, outputs)


# ----------------------------------------------------------------------------------------------- qualitative grid

def sample_ids(ids: Sequence[str], k: int, run_seed: int, experiment: str) -> list[str]:
    """``k`` ids chosen without replacement by a generator seeded from (run seed, experiment, 'qualitative')."""
    ids = sorted(ids)
    if len(ids) <= k:
        return ids
    rng = np.random.default_rng(derive_seed(run_seed, experiment, "qualitative"))
    return sorted(ids[i] for i in rng.choice(len(ids), size=k, replace=False))


def _draw_layout(ax, layout) -> None:
    """Instances on a white canvas: polygon (mask outline, if any), box, point, scribble, phrase."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Polygon, Rectangle

    w, h = layout.width, layout.height
    # The frame imshow would give a w x h white image (pixel centres at integers, y down), without an image to
    # resample and embed: the axes' own white face.
    ax.set_facecolor("white")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_aspect("equal")
    colors = [f"C{i % 10}" for i in range(len(layout.instances))]
    outlines = []
    for inst, c in zip(layout.instances, colors):
        if inst.polygon:
            outlines.append(Polygon([(x * w, y * h) for x, y in inst.polygon], closed=True, fill=False, ec=c, lw=0.8,
                                    ls="--"))
        x0, y0, x1, y1 = inst.box
        outlines.append(Rectangle((x0 * w, y0 * h), (x1 - x0) * w, (y1 - y0) * h, fill=False, ec=c, lw=1))
        if inst.point:
            ax.plot(inst.point[0] * w, inst.point[1] * h, "o", color=c, ms=3)
        if inst.scribble:
            ax.plot([p[0] * w for p in inst.scribble], [p[1] * h for p in inst.scribble], ".", color=c, ms=2)
        ax.text(x0 * w + 2, y0 * h + 10, inst.phrase[:20], color=c, fontsize=5)
    # One collection, in the same order, instead of a patch each: add_patch walks every mask outline's vertices to
    # update data limits that the frame above already fixes.
    ax.add_collection(PatchCollection(outlines, match_original=True), autolim=False)


def qualitative_grid(layouts_path: str | Path, generated_done: str | Path, real_done: str | Path | None,
                     outputs: Sequence[str | Path], experiment: str, run_seed: int, k: int = 4,
                     banner: str | None = None) -> list[str]:
    """Rows of (layout overlay | generated | real) for ``k`` seeded-sampled images of ``experiment``; the real
    column only when some chosen layout has a real image (the LLM's layouts have none)."""
    from PIL import Image

    from instdiff.core.layout import read_layouts
    from instdiff.metrics.fid import read_image_list

    plt = _mpl()
    layouts = {lay.id: lay for lay in read_layouts(layouts_path)}
    gen = dict(read_image_list(generated_done))
    real = dict(read_image_list(real_done)) if real_done else {}
    common = [i for i in gen if i in layouts]
    if not common:
        raise InputError(generated_done, "no generated image has a layout of the same id",
                         f"regenerate the image set from {layouts_path}", "images")
    chosen = sample_ids(common, k, run_seed, experiment)
    titles = ("layout", "generated", "real") if any(i in real for i in chosen) else ("layout", "generated")
    fig, axes = plt.subplots(len(chosen), len(titles), figsize=(2.5 * len(titles), 2.6 * len(chosen)), squeeze=False)
    for row, image_id in zip(axes, chosen):
        _draw_layout(row[0], layouts[image_id])
        row[1].imshow(Image.open(gen[image_id]).convert("RGB"))
        if len(titles) == 3 and image_id in real:
            row[2].imshow(Image.open(real[image_id]).convert("RGB"))
        elif len(titles) == 3:
            _message(row[2], "no real image with this id")
        for ax, title in zip(row, titles):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{title} {image_id}" if title == "layout" else title, fontsize=8)
        row[0].set_xlabel(layouts[image_id].caption[:70], fontsize=6)
    fig.suptitle(f"{experiment}: {' | '.join(titles)}" + (f"\n{banner}" if banner else ""), fontsize=9,
                 color="#a00000" if banner else "k")
    fig.tight_layout()
    save_figure(fig, outputs)
    return chosen
