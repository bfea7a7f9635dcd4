"""The layout step of the LLM stage: config -> layouts (replay folder or API) -> layout files + request log.

Writes the same layouts to every path in ``layout_paths`` (``llm/layouts.jsonl`` for this stage and
``layouts/llm.jsonl``, the generation stage's input), and one record per layout to ``requests_path``: scene type,
request seed, model, ``system_fingerprint``, token usage, the raw replies and the problems found in each.

When the step fails, Snakemake deletes its outputs, ``requests_path`` included; the same records are then also written
to ``failed_requests_path`` (a log file of the rule, which Snakemake keeps), and the error names that file.
How many layouts are distinct is counted (:func:`count_distinct`), logged, and shown in the stage's table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from instdiff.core.layout import Layout, box_center, clip_unit, misread_corners_as_xywh, write_layouts
from instdiff.core.io import write_jsonl

log = logging.getLogger(__name__)


def apply_box_format(layout: Layout, legacy_box_format: bool) -> Layout:
    """Set the boxes the generator is given.

    ``legacy_box_format = False`` (default): the intended corners. ``True``: the extension's bug, reproduced for
    comparison: ``inference.py`` read the LLM's ``[x1, y1, x2, y2]`` as ``[x, y, w, h]``, so the box given is
    ``[x1, y1, x1 + x2, y1 + y2]`` (normalised, unclipped, as the original fed it). The instance point, which
    ``test_box.yaml`` keeps, is the centre of that unclipped box, as ``inference.py`` derived it.
    """
    if not legacy_box_format:
        return layout
    instances = []
    for inst in layout.instances:
        given = misread_corners_as_xywh(inst.box)
        instances.append(replace(inst, box=given, point=box_center(given)))
    return replace(layout, instances=instances, meta={**layout.meta, "box_format_fed": "legacy_xywh"})


def given_boxes(layout: Layout) -> list[tuple[float, float, float, float]]:
    """The boxes the generator received, clipped to the canvas: the region it could actually draw in."""
    return [clip_unit(inst.box) for inst in layout.instances]


def intended_boxes(layout: Layout) -> list[tuple[float, float, float, float]]:
    """The boxes the LLM meant (normalised corners); falls back to the given boxes for non-LLM layouts."""
    stored = layout.meta.get("intended_boxes")
    return [tuple(b) for b in stored] if stored is not None else [tuple(i.box) for i in layout.instances]  # type: ignore[misc]


def layout_signature(layout: Layout) -> str:
    """What a layout asks the generator for (caption, and each instance's phrase, category and box), ids and
    provenance left out: two layouts with the same signature give the same image."""
    return json.dumps([layout.caption, [[i.phrase, i.category, [round(float(v), 6) for v in i.box]]
                                        for i in layout.instances]], sort_keys=True)


def count_distinct(layouts: Sequence[Layout]) -> int:
    """How many of ``layouts`` differ from every other (by :func:`layout_signature`)."""
    return len({layout_signature(lay) for lay in layouts})


def _api_layouts(section: dict[str, Any], run_seed: int, cache_dir: str | Path, n: int):
    from instdiff.core.errors import InputError
    from instdiff.llm.client import (API_KEY_ENV, LayoutClient, LlmAuthFailure, LlmFailure, LlmSettings,
                                     LlmStageDeadline, request_seed)
    from instdiff.llm.prompt import draw_scene_type

    settings = LlmSettings.from_config({**section.get("api", {}), "out_of_vocabulary": section.get("out_of_vocabulary", "reject")})
    layouts, records, failures = [], [], []
    # LayoutClient fails before any request when OPENAI_API_KEY is missing.
    with LayoutClient(settings, cache_dir) as client:
        for k in tqdm(range(1, n + 1), desc="llm layouts"):
            layout_id = f"desc_{k:03d}"
            scene = draw_scene_type(run_seed, layout_id)
            try:
                layout, record = client.layout(layout_id, scene, seed=request_seed(run_seed, settings.seed, layout_id))
                layouts.append(layout)
            except LlmAuthFailure as exc:  # every further request would be refused too: stop at the first
                records.append(exc.record)
                fatal = InputError(settings.base_url or "api.openai.com", f"the server refused the credentials ({exc})",
                                   f"check {API_KEY_ENV} and llm.api.base_url; nothing else was sent", API_KEY_ENV)
                return layouts, records, [layout_id], fatal
            except LlmStageDeadline as exc:  # the budget is spent: later layouts are not asked for
                records.append(exc.record)
                left = [f"desc_{j:03d}" for j in range(k, n + 1)]
                records.extend({"id": i, "status": "not sent", "error": "stage deadline"} for i in left[1:])
                fatal = InputError(None, f"{exc}; {len(left)} of {n} layouts missing ({left[0]} onwards)",
                                   "rerun to continue (answered requests come from the cache), or raise "
                                   "llm.api.stage_deadline_s", "llm.api.stage_deadline_s")
                return layouts, records, left, fatal
            except LlmFailure as exc:
                log.error("%s", exc)
                record = exc.record
                failures.append(layout_id)
            records.append(record)
    return layouts, records, failures, None


def make_layouts(
    section: dict[str, Any],
    run_seed: int,
    layout_paths: Sequence[str | Path],
    requests_path: str | Path,
    cache_dir: str | Path,
    failed_requests_path: str | Path | None = None,
) -> list[Layout]:
    """Build the stage's layouts from the ``llm`` config section and write them (see the module docstring)."""
    source = section.get("source", "replay")
    n = int(section.get("n_layouts", 100))
    oov = section.get("out_of_vocabulary", "reject")
    if source == "replay":
        from instdiff.llm.replay import replay_layouts

        layouts = replay_layouts(section["replay"]["dir"], n, "drop" if oov == "drop" else "keep")
        records = [{"id": lay.id, "status": "replayed", "source_file": lay.meta["source_file"]} for lay in layouts]
        failures: list[str] = []
        fatal = None
    elif source == "api":
        layouts, records, failures, fatal = _api_layouts(section, run_seed, cache_dir, n)
    else:
        raise ValueError(f"llm.source must be replay or api, got {source!r}")
    write_jsonl(requests_path, records)  # written first: the log of what was paid for survives a failure below
    max_failures = int(section.get("max_failures", 0))
    if fatal is not None or len(failures) > max_failures:
        # Snakemake deletes a failed job's outputs (requests_path among them): keep the records in a log file.
        kept = requests_path
        if failed_requests_path is not None:
            write_jsonl(failed_requests_path, records)
            kept = failed_requests_path
        if fatal is not None:
            raise type(fatal)(fatal.path, fatal.problem, f"{fatal.fix}; what was exchanged: {kept}", fatal.field)
        raise RuntimeError(
            f"{len(failures)} layouts failed (limit llm.max_failures = {max_failures}): {', '.join(failures)}; "
            f"see {kept}. Rerun to retry them: answered requests come from the cache."
        )
    if failed_requests_path is not None:
        Path(failed_requests_path).unlink(missing_ok=True)  # a previous failure's log would now mislead
    layouts = [apply_box_format(lay, bool(section.get("legacy_box_format", False))) for lay in layouts]
    for path in layout_paths:
        write_layouts(path, layouts)
    distinct = count_distinct(layouts)
    log.info("%d layouts (%s), %d distinct, %d failed", len(layouts), source, distinct, len(failures))
    if distinct < len(layouts):
        log.warning("only %d of %d layouts are distinct: images of identical layouts differ only by their seed",
                    distinct, len(layouts))
    return layouts
