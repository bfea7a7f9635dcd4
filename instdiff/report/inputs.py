"""Which experiments feed each table (from the config alone: the rules' input lists are built at parse time)."""

from __future__ import annotations

from typing import Any, Mapping

from instdiff.metrics.registry import metric_of_file
from instdiff.report.specs import TABLES


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
