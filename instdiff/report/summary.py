"""What ``instdiff summary`` and ``instdiff compare`` print: read back from a run's tables (``tables/*.csv``, the long
form every table rule writes), so the terminal shows the numbers the tables show, with no metric file re-read.

- :func:`summarize`: per table, each of our main rows that has a published counterpart: the published value, ours
  with its 95% CI, and the Δ the table prints (none where the table prints none, e.g. FID, and why).
- :func:`compare`: run B − run A for every cell of our rows both runs have, with an approximate 95% CI (the two
  runs' intervals combined as independent normal errors).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from instdiff.core.errors import InputError
from instdiff.report.specs import TABLE_FILES, TABLES

OURS_KINDS = {"ours", "upper bound", "null", "external"}


def _decimals(table: str, measure: str) -> int:
    spec = TABLES.get(table)
    col = next((c for c in spec.columns if c.id == measure), None) if spec else None
    return col.decimals if col else 2


def _num(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def read_tables(run_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The long-form rows of every table the run wrote, by table name (rows' labels without their note marks)."""
    tables_dir = Path(run_dir) / "tables"
    if not tables_dir.is_dir():
        raise InputError(tables_dir, "no tables folder in the run directory",
                         "pass a run directory (results/{run}) after `snakemake all` (or `snakemake table1`) ran")
    out = {}
    for name, stem in TABLE_FILES.items():
        path = tables_dir / f"{stem}.csv"
        if not path.is_file():
            continue
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        if rows and "section" not in rows[0]:
            raise InputError(path, "a table of an older version (no 'section' column)", f"rerun `snakemake -R {name}`")
        for r in rows:
            r["row"] = r["row"].split(" [")[0]
            for k in ("value", "ci_low", "ci_high"):
                r[k] = _num(r[k])
        out[name] = rows
    if not out:
        raise InputError(tables_dir, "no table CSV in the folder", "run `snakemake --cores 2 all` for this run first")
    return out


def _fmt(v: float | None, d: int, signed: bool = False) -> str:
    return "–" if v is None else f"{v:{'+' if signed else ''}.{d}f}"


def _ci(r: dict[str, Any] | None, d: int) -> str:
    if not r or r["ci_low"] is None or r["ci_high"] is None:
        return ""
    return f" [{r['ci_low']:.{d}f}, {r['ci_high']:.{d}f}]"


def summarize(run_dir: str | Path) -> dict[str, Any]:
    """Headline comparisons: each Δ row's cells, with the published value and ours beside it."""
    tables = read_tables(run_dir)
    banner = next((r["banner"] for rows in tables.values() for r in rows if r.get("banner")), "")
    lines = []
    for name, rows in tables.items():
        cell = {(r["section"], r["row"], r["measure"]): r for r in rows}
        for d in (r for r in rows if r["section"] == "delta" and r["status"] == "ok" and r["value"] is not None):
            ours_label = d["row"].split(" − ")[0]
            ours = cell.get(("main", ours_label, d["measure"]))
            # The published value Δ subtracted (the paper's AR sits in the R column and is subtracted from both
            # recall columns): ours − Δ, exactly what the table computed.
            published = ours["value"] - d["value"] if ours and ours["value"] is not None else None
            lines.append({"table": name, "measure": d["measure"], "label": d["label"], "ours_row": ours_label,
                          "reference": d["reference"], "published": published,
                          "ours": ours["value"] if ours else None, "ours_ci": _pair(ours),
                          "delta": d["value"], "delta_ci": _pair(d), "decimals": _decimals(name, d["measure"])})
    return {"run_dir": str(run_dir), "banner": banner, "comparisons": lines}


def _pair(r: dict[str, Any] | None) -> list[float] | None:
    return None if not r or r["ci_low"] is None or r["ci_high"] is None else [r["ci_low"], r["ci_high"]]


def summary_text(s: dict[str, Any]) -> str:
    out = [f"instdiff summary of {s['run_dir']}"]
    if s["banner"]:
        out.append(f"!! {s['banner']}")
    if not s["comparisons"]:
        out.append("No Δ in the tables yet: no metric file of a row with a published counterpart (run `snakemake all`).")
    table = None
    for c in s["comparisons"]:
        if c["table"] != table:
            table = c["table"]
            out.append(f"\n{TABLES[table].title}")
        d = c["decimals"]
        ours = {"ci_low": (c["ours_ci"] or [None])[0], "ci_high": (c["ours_ci"] or [None, None])[1]}
        delta = {"ci_low": (c["delta_ci"] or [None])[0], "ci_high": (c["delta_ci"] or [None, None])[1]}
        out.append(f"  {c['label'].replace('^', ' ').replace('_', ''):<48} {c['ours_row']:<26} "
                   f"ours {_fmt(c['ours'], d)}{_ci(ours, d)}  vs {c['reference']} {_fmt(c['published'], d)}  "
                   f"Δ {_fmt(c['delta'], d, True)}{_ci(delta, d)}")
    return "\n".join(out) + "\n"


def compare(run_a: str | Path, run_b: str | Path) -> dict[str, Any]:
    """B − A for every cell of our rows (main and variants) that both runs computed."""
    a, b = read_tables(run_a), read_tables(run_b)
    lines = []
    for name in (n for n in a if n in b):
        cells_a = {(r["row"], r["measure"]): r for r in a[name] if r["kind"] in OURS_KINDS and r["status"] == "ok"}
        for r in b[name]:
            ra = cells_a.get((r["row"], r["measure"]))
            if ra is None or r["kind"] not in OURS_KINDS or r["status"] != "ok" or r["value"] is None:
                continue
            half = [None if x["ci_low"] is None else (x["ci_high"] - x["ci_low"]) / 2 for x in (ra, r)]
            ci = None
            if None not in half:
                h = math.hypot(*half)
                ci = [r["value"] - ra["value"] - h, r["value"] - ra["value"] + h]
            lines.append({"table": name, "row": r["row"], "measure": r["measure"], "label": r["label"],
                          "a": ra["value"], "b": r["value"], "delta": r["value"] - ra["value"], "delta_ci": ci,
                          "decimals": _decimals(name, r["measure"])})
    banners = {x for t in (a, b) for rows in t.values() for x in [rows[0].get("banner")] if rows and x}
    return {"run_a": str(run_a), "run_b": str(run_b), "banner": " / ".join(sorted(banners)), "comparisons": lines}


def compare_text(c: dict[str, Any]) -> str:
    out = [f"instdiff compare: B − A, A = {c['run_a']}, B = {c['run_b']}",
           "CI: both runs' 95% intervals combined as independent normal errors (approximate)."]
    if c["banner"]:
        out.append(f"!! {c['banner']}")
    if not c["comparisons"]:
        out.append("The two runs share no computed cell of our rows.")
    table = None
    for x in c["comparisons"]:
        if x["table"] != table:
            table = x["table"]
            out.append(f"\n{TABLES[table].title}")
        d = x["decimals"]
        ci = "" if x["delta_ci"] is None else f" [{x['delta_ci'][0]:.{d}f}, {x['delta_ci'][1]:.{d}f}]"
        out.append(f"  {x['row']:<40} {x['label'].replace('^', ' ').replace('_', ''):<44} A {_fmt(x['a'], d)}  "
                   f"B {_fmt(x['b'], d)}  Δ {_fmt(x['delta'], d, True)}{ci}")
    return "\n".join(out) + "\n"
