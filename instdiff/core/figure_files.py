"""Writing a matplotlib figure to several files (PNG, PDF), cropped to its tight bounding box, atomically.

``savefig(bbox_inches="tight")`` lays the figure out and draws it twice per file (once to measure the box, once to
render); after ``tight_layout`` every ``savefig`` does so even with an explicit box (the layout engine it leaves
behind). Here the box is measured once, by one draw without rendering at the output resolution (what savefig's
own measuring pass does), and handed to every format: one measuring draw plus one draw per file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from instdiff.core.io import atomic_path


def save_tight(fig, outputs: Iterable[str | Path], dpi: float,
               pdf_metadata: Mapping[str, object] | None = None) -> list[Path]:
    """Write ``fig`` to every output (format from the suffix) at ``dpi``, cropped as ``bbox_inches="tight"`` crops
    it, atomically; close the figure. ``pdf_metadata``: savefig's ``metadata`` for the PDFs."""
    import matplotlib.pyplot as plt

    fig.set_dpi(dpi)
    fig.draw_without_rendering()
    bbox = fig.get_tightbbox().padded(plt.rcParams["savefig.pad_inches"])
    fig.set_layout_engine(None)  # the layout is done; an engine left by tight_layout would lay out and draw again
    written = []
    for out in outputs:
        fmt = Path(out).suffix.lstrip(".")
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches=bbox,
                        metadata=dict(pdf_metadata) if pdf_metadata and fmt == "pdf" else None)
        written.append(Path(out))
    plt.close(fig)
    return written
