"""The published numbers (``config/paper_results.yaml``): loading and validation.

Numbers keep the digits they were published with (:class:`Published`): the YAML scalar text, so "23.9" prints as
23.9 and "0.250" as 0.250 whatever a column's own precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from instdiff.core.errors import InputError


class Published(float):
    """A published number that remembers its text ("0.250")."""

    text: str

    def __new__(cls, value: float, text: str | None = None):
        obj = super().__new__(cls, value)
        obj.text = text if text is not None else repr(float(value))
        return obj


@dataclass(frozen=True)
class Caveat:
    text: str
    measures: tuple[str, ...] = ("*",)     # glob patterns of the measure ids it concerns
    no_delta: bool = False                 # the tables print no Δ against the measures it concerns

    def applies(self, measures) -> bool:
        from fnmatch import fnmatch

        return any(fnmatch(m, pat) for m in measures for pat in self.measures)


class _Loader(yaml.SafeLoader):
    pass


def _number(loader, node):
    ctor = loader.construct_yaml_float if node.tag.endswith(":float") else loader.construct_yaml_int
    return Published(float(ctor(node)), node.value.lstrip("+"))


_Loader.add_constructor("tag:yaml.org,2002:float", _number)
_Loader.add_constructor("tag:yaml.org,2002:int", _number)


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
    revision: str | None = None            # date of this version of a document that changed
    conflicts: dict[str, str] = field(default_factory=dict)      # measure -> why it contradicts the paper's deltas
    published_deltas: dict[str, float] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)        # measure -> table column it is shown in

    @property
    def display_label(self) -> str:
        return f"{self.label} ({self.revision})" if self.revision else self.label

    def column_of(self, measure: str, default: dict[str, str]) -> str:
        return self.columns.get(measure, default.get(measure, measure))


@dataclass(frozen=True)
class PaperResults:
    path: str
    sources: dict[str, dict[str, Any]]
    caveats: dict[str, Caveat]
    methods: dict[str, PaperMethod] = field(default_factory=dict)
    deltas_vs_prev_sota: dict[str, float] = field(default_factory=dict)
    column_of: dict[str, str] = field(default_factory=dict)      # default measure -> column placement

    def conflict_text(self, method_id: str, measure: str) -> str:
        """The arithmetic that shows a published cell contradicting the paper's own "vs. prev. SoTA" row."""
        m = self.methods[method_id]
        ours = self.methods["instancediffusion"].values.get(measure)
        delta = self.deltas_vs_prev_sota.get(measure)
        text = f"{m.label} {measure} = {m.values[measure].text} conflicts with the paper's own arithmetic"
        if ours is not None and delta is not None:
            text += (f": InstanceDiffusion {ours.text} − {m.values[measure].text} = {ours - m.values[measure]:+.1f}, "
                     f"but the 'vs. prev. SoTA' row says {delta.text if delta.text.startswith(('-', '−')) else '+' + delta.text}")
        return text + f"; {m.conflicts[measure]}"

    def method(self, method_id: str) -> PaperMethod:
        if method_id not in self.methods:
            raise InputError(self.path, f"no method {method_id!r}", "add it under 'methods'", "methods")
        return self.methods[method_id]


def load_paper_results(path: str | Path) -> PaperResults:
    """Read and check ``paper_results.yaml`` (every value a number, every source and caveat defined)."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_Loader)
    except FileNotFoundError:
        raise InputError(path, "file does not exist", "restore config/paper_results.yaml from the repository") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({exc})", "repair the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("methods"), dict):
        raise InputError(path, "no 'methods' mapping", "restore the file from the repository", "methods")
    sources = data.get("sources") or {}
    caveats = {}
    for cid, c in (data.get("caveats") or {}).items():
        if isinstance(c, str):
            caveats[cid] = Caveat(c)
        elif isinstance(c, dict) and isinstance(c.get("text"), str):
            caveats[cid] = Caveat(c["text"], tuple(c.get("measures") or ("*",)), bool(c.get("no_delta", False)))
        else:
            raise InputError(path, "a caveat is a string or {text, measures, no_delta}", "fix the entry", f"caveats.{cid}")
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
        for key in ("conflicts", "published_deltas", "columns"):
            unknown = set(m.get(key) or {}) - set(values)
            if unknown:
                raise InputError(path, f"{key} names measures without a value: {sorted(unknown)}",
                                 "name measures present under values", f"{where}.{key}")
        methods[mid] = PaperMethod(
            id=mid, label=str(m.get("label", mid)), source=m["source"],
            values={k: v if isinstance(v, Published) else Published(v) for k, v in values.items()},
            experiment=m.get("experiment"), uncertain=uncertain, notes=tuple(m.get("notes") or []),
            note=m.get("note"), revision=None if m.get("revision") is None else str(m["revision"]),
            conflicts={k: str(v) for k, v in (m.get("conflicts") or {}).items()},
            published_deltas=dict(m.get("published_deltas") or {}), columns=dict(m.get("columns") or {}),
        )
    deltas = (data.get("paper_deltas_vs_prev_sota") or {}).get("values") or {}
    return PaperResults(path=str(path), sources=sources, caveats=caveats, methods=methods,
                        deltas_vs_prev_sota=dict(deltas), column_of=dict(data.get("column_of") or {}))
