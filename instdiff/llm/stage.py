"""The layout step of the LLM stage: config -> layouts (replay folder or API) -> layout files + request log.

Writes the same layouts to every path in ``layout_paths`` (``llm/layouts.jsonl`` for this stage and
``layouts/llm.jsonl``, the generation stage's input), and one record per layout to ``requests_path``: scene type,
model, ``system_fingerprint``, token usage, the raw replies and the problems found in each.
"""

from __future__ import annotations

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


def _api_layouts(section: dict[str, Any], run_seed: int, cache_dir: str | Path, n: int):
    from instdiff.core.errors import InputError
    from instdiff.llm.client import API_KEY_ENV, LayoutClient, LlmAuthFailure, LlmFailure, LlmSettings
    from instdiff.llm.prompt import draw_scene_type

    settings = LlmSettings.from_config({**section.get("api", {}), "out_of_vocabulary": section.get("out_of_vocabulary", "reject")})
    client = LayoutClient(settings, cache_dir)  # fails here, before any request, when OPENAI_API_KEY is missing
    layouts, records, failures = [], [], []
    for k in tqdm(range(1, n + 1), desc="llm layouts"):
        layout_id = f"desc_{k:03d}"
        scene = draw_scene_type(run_seed, layout_id)
        try:
            layout, record = client.layout(layout_id, scene)
            layouts.append(layout)
        except LlmAuthFailure as exc:  # every further request would be refused too: stop at the first
            records.append(exc.record)
            fatal = InputError(settings.base_url or "api.openai.com", f"the server refused the credentials ({exc})",
                               f"check {API_KEY_ENV} and llm.api.base_url; nothing else was sent", API_KEY_ENV)
            return layouts, records, [layout_id], fatal
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
    if fatal is not None:
        raise fatal
    max_failures = int(section.get("max_failures", 0))
    if len(failures) > max_failures:
        raise RuntimeError(
            f"{len(failures)} layouts failed (limit llm.max_failures = {max_failures}): {', '.join(failures)}; "
            f"see {requests_path}. Rerun to retry them: answered requests come from the cache."
        )
    layouts = [apply_box_format(lay, bool(section.get("legacy_box_format", False))) for lay in layouts]
    for path in layout_paths:
        write_layouts(path, layouts)
    log.info("%d layouts (%s), %d failed", len(layouts), source, len(failures))
    return layouts
