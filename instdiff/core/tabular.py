"""Plain text tables every stage writes (Markdown grids, CSV documents): the lowest floor, so the LLM, raters and
report stages share one writer without importing one another."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence


def markdown_grid(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table of texts: header, separator, one line per row (every table of the project)."""
    return (["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
            + ["| " + " | ".join(cells) + " |" for cells in rows])


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (newline line ends, the csv module's quoting) of a header and rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
