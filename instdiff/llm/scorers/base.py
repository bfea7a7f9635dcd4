"""What every grounding scorer returns: labelled boxes in the canonical frame (normalised corners)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from instdiff.llm.scorers.labels import to_category
from instdiff.core.layout import Layout


@dataclass
class Detection:
    """One box found in an image. ``label`` is what matching compares (after :func:`to_category`); ``text`` is what
    the scorer said (the query phrase for detectors, the VLM's words for CogVLM); ``score`` is ``None`` for VLMs."""

    label: str
    box: tuple[float, float, float, float]
    score: float | None = None
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = [float(v) for v in self.box]
        return d


@dataclass(frozen=True)
class Query:
    """A phrase to look for, and the label its detections get."""

    phrase: str
    label: str


def layout_queries(layout: Layout, field: str = "phrase") -> list[Query]:
    """One query per distinct instance phrase (or category), labelled with the instance's category.

    Detectors are queried with each instance's phrase; their detections are labelled with that instance's category
    so matching is one-to-one within a category, as for CogVLM.
    """
    seen: dict[str, Query] = {}
    for inst in layout.instances:
        phrase = (inst.phrase if field == "phrase" else inst.category or inst.phrase).strip()
        seen.setdefault(phrase.lower(), Query(phrase, to_category(inst.category or inst.phrase)))
    return list(seen.values())
