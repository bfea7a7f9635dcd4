"""Plain text tables every stage writes (Markdown grids, CSV documents, LaTeX tabulars): the lowest floor, so the
LLM, raters and report stages share one writer without importing one another."""

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


# Characters LaTeX treats specially in text mode, and the symbols of our labels that need math mode or an ASCII
# spelling (LaTeX's default input encoding would stop on them).
TEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
               "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "Δ": r"$\Delta$",
               "−": "$-$", "–": "--", "—": "---", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "’": "'",
               "é": r"\'e", "·": r"$\cdot$", "α": r"$\alpha$", "τ": r"$\tau$", "±": r"$\pm$",
               "≈": r"$\approx$"}


def tex_escape(s: str) -> str:
    """Text escaped for LaTeX; a character LaTeX's default input cannot take raises (the table would not compile)."""
    out = []
    for ch in s:
        t = TEX_ESCAPES.get(ch, ch)
        if not t.isascii():
            raise InputError(None, f"no LaTeX spelling for {ch!r} in {s!r}", "add it to instdiff.core.tabular.TEX_ESCAPES")
        out.append(t)
    return "".join(out)


def latex_tabular(header: Sequence[str], rows: Iterable[Sequence[str]], caption: str, label: str,
                  notes: Sequence[str] = ()) -> str:
    """A booktabs ``table`` of escaped texts: first column left-aligned, the others right-aligned; ``notes`` under
    it in small type."""
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
           r"\toprule", " & ".join(tex_escape(h) for h in header) + r" \\", r"\midrule"]
    out += [" & ".join(tex_escape(c) for c in row) + r" \\" for row in rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        out += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        out += [tex_escape(n) + r"\par" for n in notes]
        out += [r"\end{minipage}"]
    out += [r"\caption{" + tex_escape(caption) + "}", r"\label{" + label + "}", r"\end{table}"]
    return "\n".join(out) + "\n"
