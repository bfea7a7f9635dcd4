"""Plain text tables every stage writes (Markdown grids, CSV documents): the lowest floor, so the LLM, raters and
report stages share one writer without importing one another."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence

from instdiff.core.errors import InputError


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


_TEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "Δ": r"$\Delta$", "−": "$-$", "–": "--",
            "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "—": "---", "’": "'", "é": r"\'e", "·": r"$\cdot$",
            "α": r"$\alpha$"}


def tex_escape(s: str) -> str:
    """Text escaped for LaTeX; a character LaTeX's default input cannot take raises (the table would not compile)."""
    out = []
    for ch in s:
        t = _TEX_ESC.get(ch, ch)
        if not t.isascii():
            raise InputError(None, f"no LaTeX spelling for {ch!r} in {s!r}", "add it to instdiff.core.tabular._TEX_ESC")
        out.append(t)
    return "".join(out)
