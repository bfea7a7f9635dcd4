"""What we ask the LLM: the scene types, our prompt wording, and the JSON schema of the reply.

The instructions follow the extension's prompt (one global caption plus instance captions with boxes, categories from
COCO, realistic sizes and arrangement, a 512 x 512 canvas); the wording is ours. Unlike the original, the box format is
named field by field (``x_min, y_min, x_max, y_max`` in pixels, origin top-left), so nobody has to guess what four
numbers mean, and the scene type is drawn by a seeded RNG.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from instdiff.llm.vocab import title_case_names
from instdiff.core.seeding import rng

# The extension's 9 scene types (chatgpt_generate_input.py), drawn uniformly per layout.
SCENE_TYPES = (
    "indoor scene",
    "outdoor scene",
    "nature scene",
    "commercial scene",
    "industrial scene",
    "transport scene",
    "recreational scene",
    "special event scene",
    "agricultural scene",
)

SCHEMA_NAME = "scene_layout"


class PixelBox(BaseModel):
    """A box in pixels of the canvas, origin at the top-left corner, corners named explicitly."""

    model_config = ConfigDict(extra="forbid")
    x_min: int = Field(description="left edge, pixels from the left border")
    y_min: int = Field(description="top edge, pixels from the top border")
    x_max: int = Field(description="right edge, pixels from the left border (greater than x_min)")
    y_max: int = Field(description="bottom edge, pixels from the top border (greater than y_min)")


class ReplyInstance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caption: str = Field(description="a short description of this instance")
    category: str = Field(description="one category from the given list, spelled as listed")
    box: PixelBox


class ReplyLayout(BaseModel):
    """The typed reply: what the structured-output schema enforces on the server side."""

    model_config = ConfigDict(extra="forbid")
    caption: str = Field(description="one caption describing the whole image")
    instances: list[ReplyInstance]


def response_format() -> dict[str, Any]:
    """The ``response_format`` for chat completions: a strict JSON schema of :class:`ReplyLayout`."""
    return {
        "type": "json_schema",
        "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": ReplyLayout.model_json_schema()},
    }


def draw_scene_type(run_seed: int, layout_id: str) -> str:
    """The scene type of one layout, drawn from :data:`SCENE_TYPES` with a seed derived from the layout id
    (the same id always gets the same scene, whatever else is generated)."""
    return SCENE_TYPES[int(rng(run_seed, "llm", layout_id, "scene").integers(len(SCENE_TYPES)))]


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def build_messages(scene: str, width: int = 512, height: int = 512) -> list[dict[str, str]]:
    """System and user messages for one layout (our wording of the extension's instructions)."""
    system = (
        "You design images for a layout-conditioned image generator. For each request you write one caption for the "
        "whole image and a list of its key objects, each with its own short caption, its category and a precise "
        "bounding box. Reply with JSON that follows the given schema and nothing else."
    )
    user = (
        f"Design {_article(scene)} {scene} for an image {width} pixels wide and {height} pixels high.\n"
        f"Every object's category must be one of these: {', '.join(title_case_names())}.\n"
        f"Give every box in pixels with the origin at the top-left corner: x_min and x_max between 0 and {width}, "
        f"y_min and y_max between 0 and {height}, x_min < x_max and y_min < y_max.\n"
        "Make the boxes realistic: sizes and positions should match how large these objects are and where they "
        "would stand relative to each other in a real photograph of this scene."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def repair_message(problems: list[str]) -> dict[str, str]:
    """The follow-up message that asks the model to fix an invalid reply."""
    listed = "\n".join(f"- {p}" for p in problems)
    return {
        "role": "user",
        "content": f"That reply cannot be used:\n{listed}\nReturn the whole layout again, corrected, as JSON following the schema.",
    }
