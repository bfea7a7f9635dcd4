"""A built table as Markdown, CSV (long form), LaTeX and a standalone HTML page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from instdiff.core.errors import InputError
from instdiff.core.io import write_text
from instdiff.core.tabular import csv_text, markdown_grid, tex_escape
from instdiff.report.cells import Row, Table
from instdiff.report.specs import Column


SECTIONS = (("main", "Method", None),
            ("delta", "Δ = ours − reference", "Δ: ours minus the published row each line names (where the subtraction "
                                             "means something; the notes say why a cell is left out)"),
            ("supplementary", "Variant (ours)", "Supplementary: variants of our rows"))


def _cell_text(row: Row, c: Column) -> str:
    return row.cells[c.id].text(c.decimals, signed=row.section == "delta")


def _sections(table: Table) -> list[tuple[str, str, str | None, tuple[Column, ...], list[Row]]]:
    """(section, first header, heading, columns, rows) of each non-empty part, columns filled by some row."""
    out = []
    for section, first, heading in SECTIONS:
        rows = table.section_rows(section)
        if rows:
            out.append((section, first, heading, table.section_columns(section), rows))
    return out


def to_markdown(table: Table) -> str:
    out = [f"## {table.spec.title}", ""]
    if table.banner:
        out += [f"> **{table.banner}**", ""]
    for _, first, heading, cols, rows in _sections(table):
        if heading:
            out += [f"{heading}:", ""]
        out += markdown_grid([first] + [table.header(c) for c in cols],
                             [[r.label] + [_cell_text(r, c) for c in cols] for r in rows])
        out.append("")
    for i, note in enumerate(table.footnotes, 1):
        out.append(f"[{i}] {note}  ")
    if table.footnotes:
        out.append("")
    out.extend(f"{line}  " for line in table.footer)
    return "\n".join(out).rstrip() + "\n"


def to_csv(table: Table) -> str:
    """Long format, one row per (row, column): value and CI as numbers, status says why a value is absent; every
    column of every row (the compact Markdown drops columns a part leaves empty)."""
    lines = []
    for row in table.rows:
        for c in table.columns:
            cell = row.cells[c.id]
            num = (lambda v: "" if v is None else repr(round(v, 6)))
            note = table.footnotes[cell.note - 1] if cell.note else ""
            lines.append([table.spec.name, row.section, row.label, row.kind, row.reference, c.id, c.label,
                          num(cell.value) if cell.status == "ok" else "", num(cell.low), num(cell.high), cell.status,
                          int(cell.uncertain), cell.n or "", row.source, note, table.banner or ""])
    return csv_text(["table", "section", "row", "kind", "reference", "measure", "label", "value", "ci_low", "ci_high",
                     "status", "uncertain", "n_images", "source", "note", "banner"], lines)


_tex = tex_escape


_SCRIPT = re.compile(r"(?:[_^][A-Za-z0-9]+)+")


def tex_label(label: str) -> str:
    r"""A header label with its ``_sub`` / ``^super`` marks as real sub- and superscripts: "AP_50^box" ->
    ``AP$_{\mathrm{50}}^{\mathrm{box}}$``; the rest escaped."""
    out, pos = [], 0
    for m in _SCRIPT.finditer(label):
        out.append(_tex(label[pos:m.start()]))
        parts = re.findall(r"([_^])([A-Za-z0-9]+)", m.group(0))
        out.append("$" + "".join(f"{mark}{{\\mathrm{{{text}}}}}" for mark, text in parts) + "$")
        pos = m.end()
    out.append(_tex(label[pos:]))
    return "".join(out)


def _tex_header(table: Table, c: Column) -> str:
    head = table.header(c)
    return tex_label(c.label) + _tex(head[len(c.label):])


def to_latex(table: Table) -> str:
    """A table environment (booktabs) with the three parts one under the other, notes below, the footer as comments."""
    out = [f"% {_tex(table.spec.title)}", r"\begin{table}[t]", r"\centering", r"\small"]
    if table.banner:
        out += [r"\fbox{\parbox{0.95\linewidth}{\centering\textbf{" + _tex(table.banner) + r"}}}\par\smallskip"]
    for _, first, heading, cols, rows in _sections(table):
        if heading:
            out += [r"\par\smallskip", r"\textit{" + _tex(heading) + r"}\par\smallskip"]
        out += [r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
                " & ".join([_tex(first)] + [_tex_header(table, c) for c in cols]) + r" \\", r"\midrule"]
        out += [" & ".join([_tex(r.label)] + [_tex(_cell_text(r, c)) for c in cols]) + r" \\" for r in rows]
        out += [r"\bottomrule", r"\end{tabular}"]
    if table.footnotes:  # printed under the table: the cells' and rows' [n] marks refer to them
        out += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        # \par, not \\: "\\" before the next note's "[2]" would read it as a length argument.
        out += ["[" + str(i) + "] " + _tex(n_) + r"\par" for i, n_ in enumerate(table.footnotes, 1)]
        out += [r"\end{minipage}"]
    out += [r"\caption{" + _tex(table.spec.title) + "}", r"\label{tab:" + table.spec.name + "}", r"\end{table}"]
    out += ["% " + _tex(line) for line in table.footer]
    return "\n".join(out) + "\n"


def _html_label(label: str) -> str:
    import html

    out, pos = [], 0
    for m in _SCRIPT.finditer(label):
        out.append(html.escape(label[pos:m.start()]))
        for mark, text in re.findall(r"([_^])([A-Za-z0-9]+)", m.group(0)):
            tag = "sub" if mark == "_" else "sup"
            out.append(f"<{tag}>{html.escape(text)}</{tag}>")
        pos = m.end()
    out.append(html.escape(label[pos:]))
    return "".join(out)


HTML_STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:.8em}"
              "td,th{border:1px solid #999;padding:3px 8px;text-align:right}td{white-space:nowrap}tr th:first-child{text-align:left}"
              "tr.ours{background:#e8f1ff}tr.delta{background:#f4f4f4;font-style:italic}tr.upper{background:#eef8ee}"
              "tr.null{background:#fff4e0}.banner{border:2px solid #b00;background:#fff0f0;color:#700;padding:6px 10px;"
              "font-weight:bold;margin:.5em 0}")


def html_fragment(table: Table) -> str:
    """The table's parts, notes and footer as HTML (a page of its own, or a section of the report's front page)."""
    import html

    parts = [f"<div class='banner'>{html.escape(table.banner)}</div>"] if table.banner else []
    for _, first, heading, cols, rows in _sections(table):
        if heading:
            parts.append(f"<h4>{html.escape(heading)}</h4>")
        head = "".join(f"<th>{_html_label(c.label)}{html.escape(table.header(c)[len(c.label):])}</th>" for c in cols)
        body = []
        for r in rows:
            tds = "".join(f"<td>{html.escape(_cell_text(r, c))}</td>" for c in cols)
            body.append(f'<tr class="{html.escape(r.kind.split()[0])}"><th>{html.escape(r.label)}</th>{tds}</tr>')
        parts.append(f"<table><thead><tr><th>{html.escape(first)}</th>{head}</tr></thead>"
                     f"<tbody>{''.join(body)}</tbody></table>")
    notes = "".join(f"<li>[{i}] {html.escape(n)}</li>" for i, n in enumerate(table.footnotes, 1))
    foot = "".join(f"<li>{html.escape(line)}</li>" for line in table.footer)
    parts.append(f"<ol style='list-style:none;padding:0;font-size:90%'>{notes}</ol><ul style='font-size:80%'>{foot}</ul>")
    return "".join(parts)


def to_html(table: Table) -> str:
    """A standalone HTML page (embedded by ``snakemake --report``)."""
    import html

    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(table.spec.title)}</title>"
            f"<style>{HTML_STYLE}</style></head><body><h2>{html.escape(table.spec.title)}</h2>"
            f"{html_fragment(table)}</body></html>\n")


RENDERERS = {".csv": to_csv, ".md": to_markdown, ".tex": to_latex, ".html": to_html}


def write_table(table: Table, outputs: Iterable[str | Path]) -> None:
    for out in outputs:
        suffix = Path(out).suffix
        if suffix not in RENDERERS:
            raise InputError(out, f"unknown table format {suffix!r}", f"use one of {sorted(RENDERERS)}")
        write_text(out, RENDERERS[suffix](table))
