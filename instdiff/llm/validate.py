"""Check an LLM reply and turn it into an :class:`instdiff.core.layout.Layout`.

A reply is *invalid* (and goes back to the model for repair) when it is not JSON, does not follow the schema, has no
instances, or has a box that is empty or leaves the canvas. Categories outside COCO are handled by the
``out_of_vocabulary`` policy: ``reject`` (invalid, ask for a repair), ``drop`` (remove those instances, counted) or
``keep`` (keep them, flagged with ``category_id = None`` and counted). Nothing is clipped or kept silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from instdiff.core.layout import Instance, Layout, normalize_xyxy
from instdiff.llm.prompt import ReplyLayout
from instdiff.llm.vocab import COCO_CATEGORIES, canonical_category

OOV_POLICIES = ("reject", "drop", "keep")


@dataclass
class Checked:
    """The outcome of checking one reply: a layout when usable, the problems otherwise."""

    layout: Layout | None
    problems: list[str] = field(default_factory=list)
    out_of_vocabulary: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.layout is not None and not self.problems


def box_problems(box: tuple[float, float, float, float], width: int, height: int) -> list[str]:
    """Reasons a pixel corner box is unusable on a ``width x height`` canvas (empty list when fine)."""
    x0, y0, x1, y1 = box
    out = []
    if not (x0 < x1 and y0 < y1):
        out.append(f"box {list(box)} is empty (need x_min < x_max and y_min < y_max)")
    if min(x0, y0) < 0 or x1 > width or y1 > height:
        out.append(f"box {list(box)} leaves the {width}x{height} canvas")
    return out


def to_layout(
    reply: ReplyLayout,
    layout_id: str,
    width: int = 512,
    height: int = 512,
    out_of_vocabulary: str = "reject",
    meta: dict[str, Any] | None = None,
) -> Checked:
    """Validate a schema-conforming reply and build the layout (boxes normalised to the canvas, corners)."""
    if out_of_vocabulary not in OOV_POLICIES:
        raise ValueError(f"out_of_vocabulary must be one of {OOV_POLICIES}")
    problems: list[str] = []
    oov: list[str] = []
    instances: list[Instance] = []
    if not reply.caption.strip():
        problems.append("the image caption is empty")
    if not reply.instances:
        problems.append("there are no instances")
    for i, inst in enumerate(reply.instances):
        b = inst.box
        px = (float(b.x_min), float(b.y_min), float(b.x_max), float(b.y_max))
        problems += [f"instance {i} ({inst.caption!r}): {p}" for p in box_problems(px, width, height)]
        category = canonical_category(inst.category)
        if category is None:
            oov.append(inst.category)
            if out_of_vocabulary == "reject":
                problems.append(f"instance {i}: category {inst.category!r} is not in the list")
                continue
            if out_of_vocabulary == "drop":
                continue
        instances.append(
            Instance(
                phrase=inst.caption.strip(),
                box=normalize_xyxy(px, width, height),
                category=category if category is not None else inst.category,
                category_id=COCO_CATEGORIES.get(category) if category is not None else None,
            )
        )
    if not problems and not instances:
        problems.append("no instance is left after dropping out-of-vocabulary categories")
    if problems:
        return Checked(None, problems, oov)
    layout_meta = dict(meta or {})
    layout_meta.update(
        {
            "source": "llm",
            "box_format_fed": "xyxy",
            "intended_boxes": [list(inst.box) for inst in instances],
            "out_of_vocabulary": oov,
            "out_of_vocabulary_policy": out_of_vocabulary,
        }
    )
    return Checked(Layout(id=layout_id, caption=reply.caption.strip(), instances=instances, width=width, height=height, meta=layout_meta), [], oov)


def check_reply(
    text: str | None,
    layout_id: str,
    width: int = 512,
    height: int = 512,
    out_of_vocabulary: str = "reject",
    meta: dict[str, Any] | None = None,
) -> Checked:
    """Raw reply text -> :class:`Checked`. Never raises on bad model output: problems are returned for repair."""
    if not text or not text.strip():
        return Checked(None, ["the reply is empty"])
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return Checked(None, [f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"])
    try:
        reply = ReplyLayout.model_validate(raw)
    except ValidationError as exc:
        return Checked(None, [f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors()][:20])
    return to_layout(reply, layout_id, width, height, out_of_vocabulary, meta)
