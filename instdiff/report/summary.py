"""The headline numbers of one run beside the published ones: ``instdiff summary RUN_DIR``.

One row per headline measure of the paper (box and mask AP/AP50/AR, PiM of points and scribbles, attribute accuracy
and CLIP_local, FID per input format): our value with its 95% CI, the paper's InstanceDiffusion value and
Δ = ours − paper with the same interval shifted (a published number has no interval). The numbers come from the
run's metric files (``RUN_DIR/metrics/{experiment}/{stem}.json``, read and validated by
:func:`instdiff.metrics.record.read_record`) and ``config/paper_results.yaml`` (:mod:`instdiff.report.paper`),
in the tables' units (percent for fractions, cosines, raw FID).

Which experiments feed a measure: the run's config (``--configfile``, else the sections embedded in
``RUN_DIR/manifest.json``): ``report.replicates`` of the format if given (several generation seeds: their mean with a
t-interval across seeds), else the experiment named after the format; without either, the experiment folder of that
name. The manifest leaves out the ``report`` section (editing it must not rerun metrics), so a run with
``report.replicates`` needs ``--configfile`` to be summarized over its seeds.

The CI of one experiment's value is the writer's (COCO AP: an image bootstrap of the detections, the file's
``intervals``), else a percentile bootstrap of the file's per-image values (:func:`instdiff.core.stats.
bootstrap_mean_ci`), else none.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from instdiff.core.errors import InputError
from instdiff.core.io import read_json
from instdiff.core.stats import bootstrap_mean_ci, per_image_values, seeds_mean_ci
from instdiff.metrics.record import MetricRecord, read_record
from instdiff.metrics.registry import metric_of_file
from instdiff.report.paper import load_paper_results

# The repository's copy, for a run folder read from anywhere.
PAPER_RESULTS = Path(__file__).resolve().parents[2] / "config" / "paper_results.yaml"
SMOKE_NOTE = ("this run used tiny models and synthetic data (models.source: tiny): its numbers test the wiring, "
              "not the model")


@dataclass(frozen=True)
class Headline:
    """One headline measure: where our value is and which published value it is compared with."""

    measure: str            # the table's measure id ("box.ap")
    label: str
    stem: str               # metric file stem
    key: str                # key in the file's values
    paper_method: str = "instancediffusion"
    paper_measure: str | None = None   # the published measure, when it is not ``measure`` (the paper's AR is R)
    decimals: int = 1

    @property
    def format(self) -> str:
        return self.measure.split(".", 1)[0]


HEADLINES: tuple[Headline, ...] = (
    Headline("box.ap", "AP box", "coco_bbox", "ap"),
    Headline("box.ap50", "AP50 box", "coco_bbox", "ap50"),
    # The paper's AR is believed to be ultralytics' R (config/paper_results.yaml, caveat ar_definition).
    Headline("box.r", "R box (paper: AR)", "coco_bbox", "r", paper_measure="box.ar"),
    Headline("mask.ap", "AP mask", "coco_segm", "ap"),
    Headline("mask.ap50", "AP50 mask", "coco_segm", "ap50"),
    Headline("mask.r", "R mask (paper: AR)", "coco_segm", "r", paper_measure="mask.ar"),
    Headline("point.pim", "PiM points (eval_pim.py)", "pim_point_paper", "pim"),
    Headline("scribble.pim", "PiM scribbles (eval_pim.py)", "pim_scribble_paper", "pim"),
    Headline("colors.accuracy", "Acc colour", "attribute_gt", "accuracy", "instancediffusion_attributes"),
    Headline("colors.clip_local", "CLIP_local colour", "attribute_gt", "clip_local", "instancediffusion_attributes",
             decimals=3),
    Headline("textures.accuracy", "Acc texture", "attribute_gt", "accuracy", "instancediffusion_attributes"),
    Headline("textures.clip_local", "CLIP_local texture", "attribute_gt", "clip_local",
             "instancediffusion_attributes", decimals=3),
    Headline("box.fid", "FID box", "fid", "fid", decimals=2),
    Headline("mask.fid", "FID mask", "fid", "fid", decimals=2),
    Headline("point.fid", "FID points", "fid", "fid", decimals=2),
    Headline("scribble.fid", "FID scribbles", "fid", "fid", decimals=2),
)


@dataclass(frozen=True)
class Value:
    """Our value of one measure in a run, in the tables' unit, with the files it came from."""

    value: float
    low: float | None
    high: float | None
    n_images: int | None
    method: str | None              # how the interval was made (None: no interval)
    files: tuple[str, ...]
    per_image: dict | None = None   # image id -> per-image value (scaled), one experiment only: for paired compares


@dataclass(frozen=True)
class SummaryRow:
    measure: str
    label: str
    decimals: int
    ours: float | None = None
    low: float | None = None
    high: float | None = None
    n_images: int | None = None
    ci_method: str | None = None
    paper: float | None = None
    paper_text: str | None = None
    delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    status: str = "ok"              # ok | missing (no metric file in this run) | invalid (NaN value)
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSummary:
    run_dir: str
    run: str | None
    smoke: bool
    manifest: str | None
    rows: tuple[SummaryRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "run": self.run, "smoke": self.smoke, "manifest": self.manifest,
                "note": SMOKE_NOTE if self.smoke else None, "rows": [r.to_dict() for r in self.rows]}


def run_manifest(run_dir: Path) -> dict | None:
    path = run_dir / "manifest.json"
    return read_json(path) if path.is_file() else None


def experiments_for(fmt: str, config: Mapping[str, Any] | None, metrics_dir: Path) -> list[str]:
    """The experiments whose files give format ``fmt``'s number (see the module docstring)."""
    if config is None:
        return [fmt] if (metrics_dir / fmt).is_dir() else []
    experiments = config.get("experiments") or {}
    replicates = ((config.get("report") or {}).get("replicates") or {}).get(fmt)
    return [n for n in (replicates or [fmt]) if n in experiments]


def _scaled(iv: Mapping[str, Any] | None, scale: float) -> tuple[float | None, float | None]:
    if not iv or iv.get("low") is None or iv.get("high") is None:
        return None, None
    return float(iv["low"]) * scale, float(iv["high"]) * scale


def read_value(metrics_dir: Path, experiments: list[str], stem: str, key: str,
               bootstrap: Mapping[str, Any] | None = None) -> Value | None:
    """Our value of ``key`` in ``{experiment}/{stem}.json`` over ``experiments`` (None: a file is missing)."""
    scale = metric_of_file(stem).scale(key)
    values, files, records = [], [], []
    for exp in experiments:
        path = metrics_dir / exp / f"{stem}.json"
        if not path.is_file():
            return None
        rec: MetricRecord = read_record(path)
        if key not in rec.values:
            raise InputError(path, f"'values' has no {key!r}", "rerun the metric rule that writes it",
                             f"values.{key}")
        values.append(rec.values[key] * scale)
        files.append(str(path))
        records.append(rec)
    if not values:
        return None
    if len(values) > 1:
        iv = seeds_mean_ci(values, bounds=metric_of_file(stem).bounds(key, scale))  # inside the metric's range
        return Value(iv.value, iv.low, iv.high, None, iv.method if iv.low is not None else None, tuple(files))
    rec = records[0]
    per_image = None
    if isinstance(rec.per_image, list):
        id_key = next((k for k in ("image_id", "id") if rec.per_image and k in rec.per_image[0]), None)
        if id_key:
            per_image = {str(r[id_key]): float(r[key]) * scale for r in rec.per_image
                         if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])}
    low, high = _scaled((rec.intervals or {}).get(key), scale)
    method = ((rec.intervals or {}).get(key) or {}).get("method") if low is not None else None
    if low is None:
        pv = per_image_values(rec.per_image if isinstance(rec.per_image, list) else None, key)
        if len(pv) >= 2:
            iv = bootstrap_mean_ci(pv, **(bootstrap or {}))
            low, high, method = iv.low * scale, iv.high * scale, f"{iv.method} over {iv.n} images"
    return Value(values[0], low, high, rec.n_images, method, tuple(files), per_image)


@dataclass(frozen=True)
class RunFolder:
    """A run folder (``results/{run}``) and what its manifest says about it."""

    path: Path
    manifest: dict | None
    config: dict | None
    smoke: bool
    bootstrap: dict

    @property
    def metrics(self) -> Path:
        return self.path / "metrics"


def read_config(path: str | Path) -> dict:
    """A config YAML (``--configfile``): a mapping, or one InputError."""
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "file does not exist", "pass the run's config file", "--configfile") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({exc})", "repair the file", "--configfile") from None
    if not isinstance(config, dict):
        raise InputError(path, "not a mapping of config sections", "pass the run's config file", "--configfile")
    return config


def open_run(run_dir: str | Path, configfile: str | Path | None = None) -> RunFolder:
    """A run folder; its config from ``configfile`` when given, else from its manifest."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics").is_dir():
        raise InputError(run_dir, "no metrics/ folder: not a run folder, or no metric has run yet",
                         "pass results/{run} of a run (e.g. results/smoke after `snakemake all`)")
    manifest = run_manifest(run_dir)
    config = read_config(configfile) if configfile else (manifest or {}).get("config")
    smoke = ((config or {}).get("models") or {}).get("source") == "tiny" or (manifest or {}).get("models_source") == "tiny"
    bootstrap = {k: v for k, v in (((config or {}).get("report") or {}).get("bootstrap") or {}).items()
                 if k in ("resamples", "seed", "level") and v is not None}
    return RunFolder(run_dir, manifest, config, smoke, bootstrap)


def run_value(run: RunFolder, h: Headline) -> Value | None:
    """Our value of headline ``h`` in ``run`` (None: no metric file)."""
    return read_value(run.metrics, experiments_for(h.format, run.config, run.metrics), h.stem, h.key, run.bootstrap)


def summarize(run_dir: str | Path, paper_results: str | Path | None = None,
              configfile: str | Path | None = None) -> RunSummary:
    """The headline rows of the run in ``run_dir`` (``results/{run}``)."""
    run = open_run(run_dir, configfile)
    paper = load_paper_results(paper_results or PAPER_RESULTS)
    rows = []
    for h in HEADLINES:
        published = paper.methods.get(h.paper_method)
        p = None if published is None else published.values.get(h.paper_measure or h.measure)
        base = {"measure": h.measure, "label": h.label, "decimals": h.decimals,
                "paper": None if p is None else float(p), "paper_text": None if p is None else p.text}
        v = run_value(run, h)
        if v is None:
            rows.append(SummaryRow(**base, status="missing"))
            continue
        if not math.isfinite(v.value):
            rows.append(SummaryRow(**base, status="invalid", files=v.files))
            continue
        delta = dlow = dhigh = None
        if p is not None:
            delta = v.value - p
            if v.low is not None:
                dlow, dhigh = v.low - p, v.high - p
        rows.append(SummaryRow(**base, ours=v.value, low=v.low, high=v.high, n_images=v.n_images, ci_method=v.method,
                               delta=delta, delta_low=dlow, delta_high=dhigh, files=v.files))
    return RunSummary(str(run.path), (run.manifest or {}).get("run"), run.smoke,
                      str(run.path / "manifest.json") if run.manifest is not None else None, tuple(rows))


def number(v: float | None, decimals: int, sign: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v:+.{decimals}f}" if sign else f"{v:.{decimals}f}"


def interval(value: float | None, low: float | None, high: float | None, decimals: int, sign: bool = False) -> str:
    s = number(value, decimals, sign)
    if value is not None and low is not None and high is not None:
        s += f" [{number(low, decimals, sign)}, {number(high, decimals, sign)}]"
    return s


def aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """Plain-text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = (lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def to_text(summary: RunSummary) -> str:
    out = [f"Run {summary.run or '?'} ({summary.run_dir}): ours vs the paper's InstanceDiffusion"]
    if summary.smoke:
        out.append(f"NOTE: {SMOKE_NOTE}.")
    rows = []
    for r in summary.rows:
        if r.status != "ok":
            ours = "missing" if r.status == "missing" else "NaN (see the rule's log)"
            rows.append([r.label, ours, r.paper_text or "–", "–"])
            continue
        rows.append([r.label, interval(r.ours, r.low, r.high, r.decimals), r.paper_text or "–",
                     interval(r.delta, r.delta_low, r.delta_high, r.decimals, sign=True)])
    out += ["", *aligned(["measure", "ours [95% CI]", "paper", "Δ ours − paper [95% CI]"], rows), ""]
    out.append("Units: AP, AP50, R, PiM and accuracy in percent; CLIP_local a cosine; FID lower is better. CIs: the "
               "metric writer's image bootstrap (COCO AP), a bootstrap of per-image values, or a t-interval across "
               "seeds; Δ's interval is ours shifted (a published number has none). Missing: the run has no such "
               "metric file (the tables' notes say which rule writes it).")
    if summary.manifest:
        out.append(f"Run manifest: {summary.manifest}")
    return "\n".join(out) + "\n"
