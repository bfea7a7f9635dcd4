"""The paper's tables rebuilt from metric files: published numbers, the student reproduction, ours and the delta.

The entry point of rules table_*: specs (:mod:`.specs`), cells (:mod:`.build`), renderers (:mod:`.render`) and the
rules' input lists (:mod:`.inputs`) each live in their own module.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from instdiff.core.errors import InputError
from instdiff.report.build import Context, build_table
from instdiff.report.cells import Table
from instdiff.core.banner import run_banner
from instdiff.report.inputs import experiments_by_format, extra_rows, stored_format
from instdiff.report.paper import load_paper_results
from instdiff.report.render import write_table
from instdiff.report.specs import TABLES

log = logging.getLogger(__name__)


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
        extra_rows=extra_rows(config),
        banner=run_banner(config),
        bootstrap={k: report_cfg.get("bootstrap", {}).get(k) for k in ("resamples", "seed", "level")
                   if report_cfg.get("bootstrap", {}).get(k) is not None},
    )
    table = build_table(TABLES[name], ctx)
    write_table(table, outputs)
    log.info("%s: %d rows, %d footnotes -> %s", name, len(table.rows), len(table.footnotes), ", ".join(map(str, outputs)))
    return table
