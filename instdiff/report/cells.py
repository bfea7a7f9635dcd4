"""A built table: cells (a value with its CI, or why there is none), rows and the table with its notes.

A cell is never a blank standing for a number: it is a value, "–" (not reported / not applicable, said in the
legend) or "missing" with a footnote naming the file and the command that makes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from instdiff.report.specs import Column, TableSpec

NOT_REPORTED = "–"
MISSING = "missing"


@dataclass(frozen=True)
class Cell:
    value: float | None = None
    low: float | None = None
    high: float | None = None
    status: str = "ok"              # ok | not_reported | missing | not_implemented
    uncertain: bool = False
    note: int | None = None         # footnote number for missing inputs, or of a conflicting published value
    n: int | None = None
    published: str | None = None    # a published value's own digits ("23.9", "0.250")
    conflict: bool = False          # published value contradicting the paper's own arithmetic (footnote ``note``)
    near_null: int | None = None    # footnote number: the null model (grey images) scores close to this value
    seeds: int | None = None        # footnote number: a mean over generation seeds (their values and spread)

    def text(self, decimals: int, signed: bool = False) -> str:
        if self.status == "missing":
            return f"{MISSING} [{self.note}]"
        if self.status != "ok" or self.value is None:
            return NOT_REPORTED
        sign = "+" if signed else ""
        s = self.published if self.published is not None else f"{self.value:{sign}.{decimals}f}"
        if self.low is not None and self.high is not None:
            s += f" [{self.low:.{decimals}f}, {self.high:.{decimals}f}]"
        if self.uncertain:
            s += " (?)"
        if self.conflict:
            s += f" (!) [{self.note}]"
        if self.seeds is not None:
            s += f" [{self.seeds}]"
        if self.near_null is not None:
            s += f" (≈null) [{self.near_null}]"
        return s


@dataclass
class Row:
    label: str
    kind: str                       # paper | reproduction | ours | upper bound | null | external | delta
    cells: dict[str, Cell]
    source: str = ""
    section: str = "main"           # main | delta | supplementary
    reference: str = ""             # a Δ row: the published row it subtracts


@dataclass
class Table:
    spec: TableSpec
    rows: list[Row]
    footnotes: list[str]
    footer: list[str]
    banner: str | None = None       # a run of tiny models or synthetic data says so on every output

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.spec.columns

    def section_rows(self, section: str) -> list[Row]:
        return [r for r in self.rows if r.section == section]

    def section_columns(self, section: str) -> tuple[Column, ...]:
        """The columns some row of the section fills: a column of "–" alone says nothing (a count no metric file
        carries, a measure no variant row computes)."""
        rows = self.section_rows(section)
        return tuple(c for c in self.columns if any(r.cells[c.id].status != "not_reported" for r in rows))

    def header(self, c: Column) -> str:
        """The column label with the number of its note, if it has one."""
        return f"{c.label} [{self.footnotes.index(c.note) + 1}]" if c.note else c.label
