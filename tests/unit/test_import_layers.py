"""Imports flow from higher stages to lower ones (docs/architecture.md, DESIGN.md "Rules of the house").

The floors, lowest first, in the order the data flows through them:

    core < data < model < generation < detection < metrics < llm < raters < report < commands

``instdiff/cli.py`` sits on the commands floor. A module may import its own floor and any lower one; an import of a
higher floor (at module level or inside a function: a lazy import climbs all the same) fails this test, naming the
file, the line and the module. The layering was read off the package before this test was written: the stages only
import downwards, except for the few imports listed in :data:`KNOWN_CLIMBS`, each with the reason it is still there.
An entry there that no longer exists also fails, so the list can only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import instdiff

FLOORS = ("core", "data", "model", "generation", "detection", "metrics", "llm", "raters", "report", "commands")
ROOT = Path(instdiff.__file__).parent

# (importing file relative to instdiff/, imported module): why it still climbs. Not to be added to lightly.
KNOWN_CLIMBS = {
    ("data/coco.py", "instdiff.metrics.cocofiles"):
        "COCO file checks live in metrics/cocofiles.py, which every metric, detection and data module reads; its home "
        "is data/ (a move of its own, touching 14 files)",
    ("data/jpeg_variant.py", "instdiff.metrics.cocofiles"): "read_done: as above",
    ("detection/detect.py", "instdiff.metrics.cocofiles"): "load_gt, read_done: as above",
    ("detection/yolo_train.py", "instdiff.metrics"):
        "the tiny detectors' training check scores them with the metric writers (smoke floors)",
    ("metrics/grounding_iou.py", "instdiff.llm.scorers.labels"):
        "the grounding IoU of LLM layouts maps scorer labels to COCO categories with the LLM stage's table",
    ("metrics/grounding_iou.py", "instdiff.llm.stage"): "the boxes the LLM stage gave the generator",
    ("model/precision.py", "instdiff.generation.precision"):
        "check_precision: the precision mode names are the generation settings' (generation/precision.py)",
}


def _floor(rel: Path) -> str:
    """The floor of a file under instdiff/ (``cli.py`` is the commands floor; ``__init__.py`` the lowest)."""
    if len(rel.parts) == 1:
        return "commands" if rel.name == "cli.py" else "core"
    return rel.parts[0]


def _imported_floor(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "instdiff" or len(parts) < 2:
        return None
    return "commands" if parts[1] == "cli" else parts[1]


def instdiff_imports(path: Path):
    """(line, module) of every ``instdiff.*`` import in ``path``, function-level imports included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "instdiff":           # from instdiff import metrics
                for alias in node.names:
                    yield node.lineno, f"instdiff.{alias.name}"
            elif node.module.startswith("instdiff."):
                yield node.lineno, node.module
                if _imported_floor(node.module) and node.module.count(".") == 1:
                    # from instdiff.metrics import files: the module is instdiff.metrics.files
                    for alias in node.names:
                        yield node.lineno, f"{node.module}.{alias.name}"


def climbs(root: Path = ROOT) -> dict[tuple[str, str], list[int]]:
    """Every import of a higher floor: (file, module) -> lines."""
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        here = _floor(rel)
        assert here in FLOORS, f"instdiff/{rel}: floor {here!r} is not in FLOORS; add it where it belongs"
        for line, module in instdiff_imports(path):
            there = _imported_floor(module)
            if there is None:
                continue
            assert there in FLOORS, f"instdiff/{rel}:{line} imports {module}, floor {there!r} not in FLOORS"
            if FLOORS.index(there) > FLOORS.index(here):
                found.setdefault((rel.as_posix(), module), []).append(line)
    return found


def test_no_import_climbs_to_a_higher_stage():
    found = climbs()
    # "from instdiff.metrics import files" yields both instdiff.metrics and instdiff.metrics.files: an allowance for
    # either covers the statement.
    new = {k: v for k, v in found.items()
           if k not in KNOWN_CLIMBS and not any(k[0] == f and k[1].startswith(m + ".") for f, m in KNOWN_CLIMBS)
           and not any(k[0] == f and m.startswith(k[1] + ".") for f, m in KNOWN_CLIMBS)}
    assert not new, "imports from a higher stage (order " + " < ".join(FLOORS) + "): " + "; ".join(
        f"instdiff/{f}:{','.join(map(str, lines))} imports {m}" for (f, m), lines in sorted(new.items()))


def test_known_climbs_still_exist():
    """A climb that was fixed leaves the list: the allowance cannot outlive the import."""
    found = climbs()
    gone = [k for k in KNOWN_CLIMBS if k not in found]
    assert not gone, f"no longer imported, remove from KNOWN_CLIMBS: {gone}"


def test_the_walk_sees_lazy_and_package_imports(tmp_path):
    """The checker itself: a function-level import and ``from instdiff.x import module`` are both seen."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "a.py").write_text(
        "def f():\n    from instdiff.metrics import rle\n    import instdiff.report.tables\n")
    assert set(climbs(tmp_path)) == {("core/a.py", "instdiff.metrics"), ("core/a.py", "instdiff.metrics.rle"),
                                     ("core/a.py", "instdiff.report.tables")}
