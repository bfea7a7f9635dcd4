"""A built table as Markdown, CSV (long form), LaTeX and a standalone HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from instdiff.core.errors import InputError
from instdiff.core.io import write_text
from instdiff.core.tabular import csv_text, markdown_grid
from instdiff.report.cells import Table


def _texts(table: Table) -> list[list[str]]:
    return [[row.label] + [row.cells[c.id].text(c.decimals) for c in table.columns] for row in table.rows]


def to_markdown(table: Table) -> str:
    head = ["Method"] + [table.header(c) for c in table.columns]
    out = [f"## {table.spec.title}", ""] + markdown_grid(head, _texts(table))
    out.append("")
    for i, note in enumerate(table.footnotes, 1):
        out.append(f"[{i}] {note}  ")
    if table.footnotes:
        out.append("")
    out.extend(f"{line}  " for line in table.footer)
    return "\n".join(out).rstrip() + "\n"


def to_csv(table: Table) -> str:
    """Long format, one row per (row, column): value and CI as numbers, status says why a value is absent."""
    lines = []
    for row in table.rows:
        for c in table.columns:
            cell = row.cells[c.id]
            num = (lambda v: "" if v is None else repr(round(v, 6)))
            note = table.footnotes[cell.note - 1] if cell.note else ""
            lines.append([table.spec.name, row.label, row.kind, c.id, c.label, num(cell.value) if cell.status == "ok" else "",
                          num(cell.low), num(cell.high), cell.status, int(cell.uncertain), cell.n or "", row.source, note])
    return csv_text(["table", "row", "kind", "measure", "label", "value", "ci_low", "ci_high", "status", "uncertain",
                     "n_images", "source", "note"], lines)


_TEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "Δ": r"$\Delta$", "−": "$-$", "–": "--"}


def _tex(s: str) -> str:
    return "".join(_TEX_ESC.get(ch, ch) for ch in s)


def to_latex(table: Table) -> str:
    n = len(table.columns)
    out = [f"% {table.spec.title}", r"\begin{table}[t]", r"\centering", r"\small",
           r"\begin{tabular}{l" + "r" * n + "}", r"\toprule",
           " & ".join(["Method"] + [_tex(table.header(c)) for c in table.columns]) + r" \\", r"\midrule"]
    for cells in _texts(table):
        out.append(" & ".join(_tex(x) for x in cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if table.footnotes:  # printed under the table: the cells' and rows' [n] marks refer to them
        out += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        out += ["[" + str(i) + "] " + _tex(n_) + r"\\" for i, n_ in enumerate(table.footnotes, 1)]
        out += [r"\end{minipage}"]
    out += [r"\caption{" + _tex(table.spec.title) + "}", r"\label{tab:" + table.spec.name + "}", r"\end{table}"]
    out += ["% " + _tex(line) for line in table.footer]
    return "\n".join(out) + "\n"


def to_html(table: Table) -> str:
    """A standalone HTML page (embedded by ``snakemake --report``)."""
    import html

    head = "".join(f"<th>{html.escape(table.header(c))}</th>" for c in table.columns)
    body = []
    for row, cells in zip(table.rows, _texts(table)):
        tds = "".join(f"<td>{html.escape(x)}</td>" for x in cells[1:])
        body.append(f'<tr class="{html.escape(row.kind)}"><th>{html.escape(cells[0])}</th>{tds}</tr>')
    notes = "".join(f"<li>[{i}] {html.escape(n)}</li>" for i, n in enumerate(table.footnotes, 1))
    foot = "".join(f"<li>{html.escape(line)}</li>" for line in table.footer)
    style = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #999;"
             "padding:3px 8px;text-align:right}tr th:first-child{text-align:left}tr.ours{background:#e8f1ff}"
             "tr.delta{background:#f4f4f4;font-style:italic}tr.upper{background:#eef8ee}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(table.spec.title)}</title>"
            f"<style>{style}</style></head><body><h2>{html.escape(table.spec.title)}</h2>"
            f"<table><thead><tr><th>Method</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<ol style='list-style:none;padding:0'>{notes}</ol><ul>{foot}</ul></body></html>\n")


RENDERERS = {".csv": to_csv, ".md": to_markdown, ".tex": to_latex, ".html": to_html}


def write_table(table: Table, outputs: Iterable[str | Path]) -> None:
    for out in outputs:
        suffix = Path(out).suffix
        if suffix not in RENDERERS:
            raise InputError(out, f"unknown table format {suffix!r}", f"use one of {sorted(RENDERERS)}")
        write_text(out, RENDERERS[suffix](table))
