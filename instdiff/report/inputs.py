"""Which experiments feed each table (from the config alone: the rules' input lists are built at parse time)."""

from __future__ import annotations

from typing import Any, Mapping

from instdiff.metrics.registry import metric_of_file
from instdiff.report.specs import TABLES, OursRow, ours_rows

FORMATS = ("box", "mask", "point", "scribble", "colors", "textures", "real", "real_fullres")
HEADLINE_MODEL = "instancediffusion"


def experiments_by_format(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Which experiments feed each input format: ``report.replicates`` if given, else the experiment named after it."""
    experiments = config.get("experiments") or {}
    replicates = (config.get("report") or {}).get("replicates") or {}
    out = {}
    for fmt in FORMATS:
        names = replicates.get(fmt) or ([fmt] if fmt in experiments else [])
        out[fmt] = [n for n in names if n in experiments]
    # JPEG copies of a format's experiments feed "<format>@jpeg<quality>" (rows with variant="jpeg75").
    for name, exp in experiments.items():
        if exp.get("kind") == "jpeg_copy":
            for fmt, names in list(out.items()):
                if "@" not in fmt and exp.get("source") in names:
                    out.setdefault(f"{fmt}@jpeg{int(exp.get('jpeg_quality', 75))}", []).append(name)
    # Other methods (another generator, external images, the null model) feed "<format>:<method>".
    for name, exp in experiments.items():
        method = _method_of(name, exp)
        if method is not None:
            for fmt in _formats_of(exp, experiments):
                out.setdefault(f"{fmt}:{method[0]}", []).append(name)
    return out


def _model(exp: Mapping[str, Any]) -> str:
    return str(exp.get("model") or exp.get("generator") or HEADLINE_MODEL)


def _method_of(name: str, exp: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(key, row label, row kind) of an experiment that is its own row of the tables; None for the headline
    generator's experiments (named after their format or listed in ``report.replicates``) and real images."""
    kind = exp.get("kind")
    label = exp.get("label")
    if kind == "external":
        label = label or name
        return f"external-{label}", f"{label} (external images)", "external"
    if kind == "blank":  # the null model (instdiff/data/null_images.py): each metric's floor
        return "null", label or "Null model (grey images)", "null"
    if kind == "generated" and _model(exp) != HEADLINE_MODEL:
        # "{paper}": the published row of the same id names it ("GLIGEN (ours)" beside "GLIGEN (paper)").
        return _model(exp), f"{label} (ours)" if label else "{paper} (ours)", "ours"
    return None


# Grey images answer every location input alike: a null-model experiment feeds each format whose metric it computes.
_NULL_FORMAT_METRICS = {"box": "coco_bbox", "mask": "coco_segm", "point": "pim_point", "scribble": "pim_scribble"}


def _formats_of(exp: Mapping[str, Any], experiments: Mapping[str, Any]) -> list[str]:
    """The input formats (table column groups) an experiment's images answer: ``formats`` if given, else its
    attribute prompts (colors, textures) or its location input (box, mask, point, scribble); an external
    experiment those of the experiment whose layouts it follows; a null-model experiment those whose metric it
    computes, plus its attribute prompts."""
    if exp.get("kind") == "external" and exp.get("layouts") in experiments:
        return _formats_of(experiments[exp["layouts"]], experiments)
    if exp.get("kind") == "blank":
        metrics = set(exp.get("metrics") or [])
        formats = [f for f, m in _NULL_FORMAT_METRICS.items() if m in metrics]
        return formats + ([str(a) for a in exp.get("attributes") or []] if "attribute" in metrics else [])
    if exp.get("formats"):
        return [str(f) for f in exp["formats"]]
    if exp.get("attributes"):
        return [str(a) for a in exp["attributes"]]
    return [str(exp["location"])] if exp.get("location") else []


def extra_rows(config: Mapping[str, Any]) -> tuple[OursRow, ...]:
    """One main row per other method the config runs: a row appears in a table when its experiments compute some
    of the table's metrics; Δ against the published row whose id is the generator (``model``), when there is one."""
    rows = {}
    for name, exp in (config.get("experiments") or {}).items():
        method = _method_of(name, exp)
        if method is not None and method[0] not in rows:
            key, label, kind = method
            paper = _model(exp) if kind == "ours" else None
            rows[key] = OursRow(label, method=key, kind=kind, paper_method=paper, delta_vs_reproduction=False,
                                note=exp.get("note"))
    return tuple(rows.values())


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
    for orow in ours_rows(spec, extra_rows(config)):
        cols = orow.columns or tuple(c.id for c in spec.columns)
        for c in spec.columns:
            stem = orow.stems.get(c.id, c.stem)
            if c.id not in cols or stem is None:
                continue
            for exp in by_format.get(orow.format_key(c), []):
                if metric_of_file(stem).id in experiments[exp].get("metrics", []) and (exp, stem) not in needed:
                    needed.append((exp, stem))
    return needed
