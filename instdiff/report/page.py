"""The run's report page (``results/{run}/report.html``): one self-contained HTML file that opens on the results.

The page shows, top to bottom: the run banner (tiny models / synthetic data), the forest plot of Δ against the
paper, the headline tables (each table's own HTML: main rows, Δ rows, variants, notes), then every figure and the
generation cost. Figures are embedded as thumbnails (a longest side of ``THUMB_PX``) linked to the full PNG/PDF
beside the page, so the page stays small (the Snakemake report, `snakemake --report`, embeds everything at full
size and opens on the workflow graph).
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import Sequence

from instdiff.core.errors import InputError
from instdiff.core.io import write_text
from instdiff.report.render import HTML_STYLE

THUMB_PX = 1100
PHOTO_PX = 720
PAGE_STYLE = HTML_STYLE + ("h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em;border-bottom:1px solid #ccc}"
                           "figure{display:inline-block;margin:.5em;vertical-align:top;max-width:48%}"
                           "figure img{max-width:100%;border:1px solid #ddd}figure.wide{max-width:95%}"
                           "figcaption{font-size:85%}nav a{margin-right:1em}")


def thumbnail(png: str | Path, max_px: int = THUMB_PX, photo_px: int = PHOTO_PX) -> str:
    """A data URI of ``png`` scaled down: a drawing (few colours: plots) as PNG with a longest side of ``max_px``; a
    photograph (a qualitative grid: more than 4096 colours) as JPEG with a longest side of ``photo_px``."""
    from PIL import Image

    with Image.open(png) as im:
        im = im.convert("RGB")
        photo = im.getcolors(maxcolors=4096) is None
        im.thumbnail((photo_px, photo_px) if photo else (max_px, max_px))
        buf = io.BytesIO()
        if photo:
            im.save(buf, format="JPEG", quality=75)
        else:
            im.save(buf, format="PNG", optimize=True)
    kind = "jpeg" if photo else "png"
    return f"data:image/{kind};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _body(table_html: str | Path) -> str:
    """The body of a table's standalone page (rules table_*): its title, parts, notes and footer."""
    text = Path(table_html).read_text(encoding="utf-8")
    m = re.search(r"<body>(.*)</body>", text, re.S)
    if m is None:
        raise InputError(table_html, "no <body> in the table page", "rerun the table's rule (`snakemake -R table1`)")
    return m.group(1)


def _figure(png: Path, page_dir: Path, wide: bool = False) -> str:
    pdf = png.with_suffix(".pdf")
    rel = lambda p: html.escape(_rel(p, page_dir))  # noqa: E731
    links = f"<a href='{rel(png)}'>PNG</a>" + (f" · <a href='{rel(pdf)}'>PDF</a>" if pdf.is_file() else "")
    return (f"<figure class='{'wide' if wide else ''}'><a href='{rel(png)}'><img alt='{html.escape(png.stem)}' "
            f"src='{thumbnail(png)}'></a><figcaption>{html.escape(png.stem)}: {links}</figcaption></figure>")


def write_report_page(out: str | Path, run: str, tables: Sequence[str | Path], figures: Sequence[str | Path],
                      banner: str | None = None, extra_tables: Sequence[str | Path] = (),
                      headline_figure: str = "delta_forest") -> str:
    """Write the page; ``tables`` are the tables' HTML pages in reading order, ``figures`` PNGs (the one named
    ``headline_figure`` opens the page), ``extra_tables`` Markdown tables shown as text (generation cost)."""
    out = Path(out)
    page_dir = out.parent
    figures = [Path(f) for f in figures]
    head = [f for f in figures if f.stem == headline_figure]
    rest = [f for f in figures if f.stem != headline_figure]
    nav = "".join(f"<a href='#t{i}'>{html.escape(Path(t).stem)}</a>" for i, t in enumerate(tables))
    parts = [f"<h1>instdiff: InstanceDiffusion's evaluation reproduced, run {html.escape(run)}</h1>"]
    if banner:
        parts.append(f"<div class='banner'>{html.escape(banner)}</div>")
    parts.append(f"<nav>{nav}<a href='#figures'>figures</a></nav>")
    if head:
        parts.append("<h2>Ours minus the paper</h2>" + _figure(head[0], page_dir, wide=True))
    for i, t in enumerate(tables):
        parts.append(f"<section id='t{i}'>{_body(t)}<p><a href='{html.escape(_rel(t, page_dir))}'>this table alone"
                     "</a> (CSV, Markdown and LaTeX beside it)</p></section>")
    parts.append("<h2 id='figures'>Figures</h2>" + "".join(_figure(f, page_dir) for f in rest))
    for md in extra_tables:
        parts.append(f"<h2>{html.escape(Path(md).stem)}</h2><pre>{html.escape(Path(md).read_text(encoding='utf-8'))}"
                     "</pre>")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>instdiff report: {html.escape(run)}</title>"
            f"<style>{PAGE_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    write_text(out, page)
    return page


def _rel(path: str | Path, page_dir: Path) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(page_dir.resolve())) if p.is_relative_to(page_dir.resolve()) else str(path)
