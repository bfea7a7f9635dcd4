"""Plain tables as text: Markdown, CSV and LaTeX from a header and rows of strings.

The one writer of small tables for every stage (the LLM table, the raters table); it sits on the lowest floor so a
stage never imports the report stage to print a table. The paper tables (instdiff/report/tables.py) render the same
Markdown grid and CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence


def markdown_grid(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table of texts: header, separator, one line per row."""
    return (["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
            + ["| " + " | ".join(cells) + " |" for cells in rows])


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (newline line ends, the csv module's quoting) of a header and rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


# Characters LaTeX treats specially in text mode, and the symbols of our labels that need math mode.
LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                 "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                 "Δ": r"$\Delta$", "−": "$-$", "–": "--", "α": r"$\alpha$", "τ": r"$\tau$", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    """``text`` safe in LaTeX text mode (plain labels and numbers; no markup is kept)."""
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in text)


def latex_tabular(header: Sequence[str], rows: Iterable[Sequence[str]], caption: str, label: str,
                  notes: Sequence[str] = ()) -> str:
    """A booktabs ``table`` of escaped texts: first column left-aligned, the others right-aligned; ``notes`` under
    it in small type."""
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
           r"\toprule", " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    out += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        out += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        out += [latex_escape(n) + r"\\" for n in notes]
        out += [r"\end{minipage}"]
    out += [r"\caption{" + latex_escape(caption) + "}", r"\label{" + label + "}", r"\end{table}"]
    return "\n".join(out) + "\n"
