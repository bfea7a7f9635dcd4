"""The published numbers (``config/paper_results.yaml``): loading and validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from instdiff.errors import InputError


@dataclass(frozen=True)
class PaperMethod:
    """One published row: values by measure id ("box.ap"), in the paper's units."""

    id: str
    label: str
    source: str
    values: dict[str, float]
    experiment: str | None = None          # "real" for the upper-bound row
    uncertain: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class PaperResults:
    path: str
    sources: dict[str, dict[str, Any]]
    caveats: dict[str, str]
    methods: dict[str, PaperMethod] = field(default_factory=dict)

    def method(self, method_id: str) -> PaperMethod:
        if method_id not in self.methods:
            raise InputError(self.path, f"no method {method_id!r}", "add it under 'methods'", "methods")
        return self.methods[method_id]


def load_paper_results(path: str | Path) -> PaperResults:
    """Read and check ``paper_results.yaml`` (every value a number, every source and caveat defined)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "file does not exist", "restore config/paper_results.yaml from the repository") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({exc})", "repair the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("methods"), dict):
        raise InputError(path, "no 'methods' mapping", "restore the file from the repository", "methods")
    sources = data.get("sources") or {}
    caveats = data.get("caveats") or {}
    methods = {}
    for mid, m in data["methods"].items():
        where = f"methods.{mid}"
        if m.get("source") not in sources:
            raise InputError(path, f"unknown source {m.get('source')!r}", "define it under 'sources'", where + ".source")
        values = m.get("values") or {}
        for key, v in values.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise InputError(path, f"value {v!r} is not a number", "write the published number", f"{where}.values.{key}")
        uncertain = frozenset(m.get("uncertain") or [])
        if not uncertain <= set(values):
            raise InputError(path, f"uncertain lists unknown measures {sorted(uncertain - set(values))}",
                             "name measures present under values", where + ".uncertain")
        for note in m.get("notes") or []:
            if note not in caveats:
                raise InputError(path, f"unknown caveat {note!r}", "define it under 'caveats'", where + ".notes")
        methods[mid] = PaperMethod(
            id=mid, label=str(m.get("label", mid)), source=m["source"],
            values={k: float(v) for k, v in values.items()}, experiment=m.get("experiment"),
            uncertain=uncertain, notes=tuple(m.get("notes") or []), note=m.get("note"),
        )
    return PaperResults(path=str(path), sources=sources, caveats=caveats, methods=methods)
