"""Box formats of the grounding scorers' outputs, converted to and from the canonical normalised corners.

* Grounding DINO raw ``pred_boxes``: normalised ``(cx, cy, w, h)``; its post-processing gives absolute corners of
  the ``target_sizes`` it is handed.
* OWLv2: the processor pads the image to a square (bottom/right) before resizing, so boxes are relative to the padded
  square of side ``max(W, H)``; corners in pixels of that square must be divided by the *original* W and H.
* CogVLM: integers 0..999 of the image (``instdiff.layout.cogvlm_to_norm_xyxy``).
"""

from __future__ import annotations

from typing import Sequence

Box = tuple[float, float, float, float]


def cxcywh_to_xyxy(box: Sequence[float]) -> Box:
    cx, cy, w, h = map(float, box)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def xyxy_to_cxcywh(box: Sequence[float]) -> Box:
    x0, y0, x1, y1 = map(float, box)
    return ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)


def padded_square_px_to_norm_xyxy(box: Sequence[float], width: float, height: float) -> Box:
    """OWLv2 corners in pixels of the padded ``max(W, H)`` square -> normalised corners of the original image.

    Pass ``target_sizes=(S, S)`` with ``S = max(W, H)`` to the post-processing; the padding sits right and bottom, so
    pixel coordinates of the square are pixel coordinates of the image.
    """
    x0, y0, x1, y1 = map(float, box)
    return (x0 / width, y0 / height, x1 / width, y1 / height)


def norm_xyxy_to_padded_square_px(box: Sequence[float], width: float, height: float) -> Box:
    x0, y0, x1, y1 = map(float, box)
    return (x0 * width, y0 * height, x1 * width, y1 * height)


def clip_unit(box: Sequence[float]) -> Box:
    return tuple(min(1.0, max(0.0, float(v))) for v in box)  # type: ignore[return-value]
