"""The typed layout every stage exchanges, and every box-format conversion.

Canonical box form: normalised ``[x0, y0, x1, y1]`` with the origin at the top-left corner of the canvas.
Other formats appear only at the edges (COCO files, detector outputs, LLM replies, CogVLM strings) and are
converted here, by name, so no stage ever guesses what four numbers mean.

A layout file is JSON lines: one :class:`Layout` per line (``layouts/{experiment}.jsonl``), each carrying the
file format's ``format_version`` (:data:`LAYOUT_FORMAT_VERSION`; schema and history: docs/layouts.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from instdiff.core.errors import InputError

Box = tuple[float, float, float, float]
Point = tuple[float, float]

# The version of the layouts file (docs/layouts.md). Raise it when a field changes meaning or a reader would have to
# know of a new one; a line without it is of version 1 (the files written before it was recorded). It is a fact of
# the file, not of the layout: Layout.to_dict leaves it out, so the layout hash of a generated image keeps its value.
LAYOUT_FORMAT_VERSION = 1

# --------------------------------------------------------------------------------------------- conversions
# Names say the format: xywh = (x_min, y_min, width, height); xyxy = (x_min, y_min, x_max, y_max);
# cxcywh = (x_centre, y_centre, width, height); px = pixels of a width x height canvas; norm = divided by the
# canvas size; cogvlm = integers in 0..999.
# The grounding scorers' formats: Grounding DINO's raw ``pred_boxes`` are normalised cxcywh, its post-processing
# gives pixel corners of the ``target_sizes`` it is handed (-> normalize_xyxy). OWLv2's processor pads the image
# to a square of side max(W, H) (bottom/right) before resizing, so corners in pixels of that square are pixel
# corners of the image: divide by the *original* W and H (normalize_xyxy). CogVLM: cogvlm_to_norm_xyxy.


def xywh_to_xyxy(box: Sequence[float]) -> Box:
    x, y, w, h = map(float, box)
    return (x, y, x + w, y + h)


def xyxy_to_xywh(box: Sequence[float]) -> Box:
    x0, y0, x1, y1 = map(float, box)
    return (x0, y0, x1 - x0, y1 - y0)


def cxcywh_to_xyxy(box: Sequence[float]) -> Box:
    cx, cy, w, h = map(float, box)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def misread_corners_as_xywh(box: Sequence[float]) -> Box:
    """The extension's bug: ``inference.py`` read the LLM's corners ``[x1, y1, x2, y2]`` as ``[x, y, w, h]``.

    The box it then used is ``[x1, y1, x1 + x2, y1 + y2]``, unclipped. Kept only to reproduce the published run.
    """
    return xywh_to_xyxy(box)


def clip_unit(box: Sequence[float]) -> Box:
    """Clip a normalised box to the canvas ``[0, 1]``."""
    return tuple(min(1.0, max(0.0, float(v))) for v in box)  # type: ignore[return-value]


def normalize_xyxy(box: Sequence[float], width: float, height: float) -> Box:
    x0, y0, x1, y1 = map(float, box)
    return (x0 / width, y0 / height, x1 / width, y1 / height)


def denormalize_xyxy(box: Sequence[float], width: float, height: float) -> Box:
    x0, y0, x1, y1 = map(float, box)
    return (x0 * width, y0 * height, x1 * width, y1 * height)


def coco_xywh_px_to_norm_xyxy(box: Sequence[float], width: float, height: float) -> Box:
    """COCO annotation box -> canonical form (what ``eval_local.py`` does: corners divided by W and H)."""
    return normalize_xyxy(xywh_to_xyxy(box), width, height)


def norm_xyxy_to_coco_xywh_px(box: Sequence[float], width: float, height: float) -> Box:
    return xyxy_to_xywh(denormalize_xyxy(box, width, height))


def cogvlm_to_norm_xyxy(box: Sequence[float]) -> Box:
    """CogVLM grounding boxes are ``[[x0,y0,x1,y1]]`` integers in 0..999 of the image (model card)."""
    return tuple(float(v) / 1000.0 for v in box)  # type: ignore[return-value]


def norm_xyxy_to_cogvlm(box: Sequence[float]) -> tuple[int, int, int, int]:
    return tuple(min(999, max(0, int(round(float(v) * 1000.0)))) for v in box)  # type: ignore[return-value]


def box_center(box: Sequence[float]) -> Point:
    x0, y0, x1, y1 = map(float, box)
    return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)


def box_area(box: Sequence[float]) -> float:
    x0, y0, x1, y1 = map(float, box)
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two xyxy boxes in the same frame; 0.0 when both are empty."""
    ax0, ay0, ax1, ay1 = map(float, a)
    bx0, by0, bx1, by1 = map(float, b)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


# --------------------------------------------------------------------------------------------- schema


@dataclass
class Instance:
    """One grounded instance. Coordinates are normalised to the layout's canvas, origin top-left.

    ``phrase`` is the text fed to the instance text encoder (e.g. "red dog"). ``mask`` is a COCO RLE with
    string counts at the layout's ``height x width``. Optional inputs are ``None`` when absent; which of them
    the model uses is decided by the generation config (box / mask / point / scribble), not here.
    """

    phrase: str
    box: Box
    category: str | None = None
    category_id: int | None = None
    ann_id: int | None = None
    iscrowd: bool = False
    point: Point | None = None
    scribble: list[Point] | None = None
    polygon: list[Point] | None = None
    mask: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class Layout:
    """A scene to generate: a global caption plus instances, on a ``width x height`` canvas.

    ``id`` names the output file (``images/{experiment}/{id}.png``): the COCO image id for COCO layouts,
    the LLM layout's own id for the extension. ``meta`` records how the layout was built (flags, quirks,
    source file) so outputs can say which protocol produced them.
    """

    id: str
    caption: str
    instances: list[Instance]
    width: int = 512
    height: int = 512
    image_id: int | None = None
    file_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "caption": self.caption,
            "width": self.width,
            "height": self.height,
            "image_id": self.image_id,
            "file_name": self.file_name,
            "instances": [inst.to_dict() for inst in self.instances],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | Path | None = None) -> "Layout":
        return parse_layout(d, source)


def _point(v: Any, where: str, source: str | Path | None) -> Point:
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        raise InputError(source, f"expected [x, y], got {v!r}", "write points as two normalised numbers", where)
    return (float(v[0]), float(v[1]))


def parse_layout(d: dict[str, Any], source: str | Path | None = None) -> Layout:
    """Validate and build a :class:`Layout` from its JSON form; errors name the file and the field."""
    version = d.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(source, f"format_version must be a positive integer, got {version!r}",
                         "write layouts with instdiff.core.layout.write_layouts (docs/layouts.md)", "format_version")
    if version > LAYOUT_FORMAT_VERSION:
        raise InputError(source, f"layout of format_version {version}, newer than this instdiff reads "
                         f"({LAYOUT_FORMAT_VERSION})", "upgrade instdiff, or rewrite the layouts with this version "
                         "(docs/layouts.md lists what each version changed)", "format_version")
    for key in ("id", "caption", "instances"):
        if key not in d:
            raise InputError(source, f"layout is missing {key!r}", "write layouts with instdiff.core.layout.write_layouts", key)
    instances = []
    for i, raw in enumerate(d["instances"]):
        where = f"instances[{i}]"
        if "box" not in raw or "phrase" not in raw:
            raise InputError(source, "instance needs 'phrase' and 'box'", "add both fields", where)
        box = raw["box"]
        if not (isinstance(box, (list, tuple)) and len(box) == 4):
            raise InputError(source, f"box must be 4 numbers, got {box!r}", "use normalised [x0, y0, x1, y1]", where + ".box")
        instances.append(
            Instance(
                phrase=str(raw["phrase"]),
                box=tuple(float(v) for v in box),  # type: ignore[arg-type]
                category=raw.get("category"),
                category_id=raw.get("category_id"),
                ann_id=raw.get("ann_id"),
                iscrowd=bool(raw.get("iscrowd", False)),
                point=None if raw.get("point") is None else _point(raw["point"], where + ".point", source),
                scribble=None if raw.get("scribble") is None else [_point(p, where + ".scribble", source) for p in raw["scribble"]],
                polygon=None if raw.get("polygon") is None else [_point(p, where + ".polygon", source) for p in raw["polygon"]],
                mask=raw.get("mask"),
            )
        )
    return Layout(
        id=str(d["id"]),
        caption=str(d["caption"]),
        instances=instances,
        width=int(d.get("width", 512)),
        height=int(d.get("height", 512)),
        image_id=d.get("image_id"),
        file_name=d.get("file_name"),
        meta=dict(d.get("meta") or {}),
    )


def write_layouts(path: str | Path, layouts: Iterable[Layout]) -> None:
    from instdiff.core.io import write_jsonl

    write_jsonl(path, ({"format_version": LAYOUT_FORMAT_VERSION, **layout.to_dict()} for layout in layouts))


def read_layouts(path: str | Path) -> list[Layout]:
    from instdiff.core.io import read_jsonl

    rows = read_jsonl(path, "layout file", "run the 'layouts' rule or correct the path")
    return [parse_layout(raw, f"{path}:{i}") for i, raw in enumerate(rows, 1)]
