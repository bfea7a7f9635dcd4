"""Each concept has one home: a second definition of the original's constants, of the box type or of the device
resolution anywhere under ``instdiff/`` fails here (an AST scan, so comments and docstrings do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "instdiff"
ORIGINAL_CONSTANTS = ("MAX_OBJS", "MAX_INSTANCES", "N_SCRIBBLE_POINTS", "N_POLYGON_POINTS", "SEG_RESOLUTION", "SEG_SIZE",
                      "NUM_SEG_TOKENS", "FOURIER_FREQS", "LATENT_SCALE", "TEXT_EMBED_DIM", "EMBED_ROW", "COLORS",
                      "TEXTURES")
HOMES = {name: "core/original_constants.py" for name in ORIGINAL_CONSTANTS} | {"Box": "core/layout.py",
                                                                          "resolve_device": "core/device.py"}


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def _bound_names(tree: ast.Module):
    """Names a module binds by assignment, class or function definition (imports are uses, not definitions)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        yield sub.id
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            yield node.target.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name


MODULES = _modules()


@pytest.mark.parametrize("name,home", sorted(HOMES.items()))
def test_defined_only_in_its_home(name, home):
    where = sorted(rel for rel, tree in MODULES if name in set(_bound_names(tree)))
    assert where in ([home], []), f"{name} is defined in {where}; its one home is instdiff/{home}: import it from there"
    if name in ("MAX_OBJS", "N_SCRIBBLE_POINTS", "LATENT_SCALE", "COLORS", "TEXTURES", "TEXT_EMBED_DIM", "Box", "resolve_device"):
        assert where == [home], f"{name} must be defined in instdiff/{home}"


@pytest.mark.parametrize("literal", [0.18215, 768])
def test_original_numbers_are_not_written_as_literals(literal):
    """The VAE scale and the CLIP text width appear as numbers only in the constants' home (and where 768 is one
    width among many, not the text width: the model's component sizes in ``model/``, InceptionV3's feature layers
    in ``metrics/fid.py``)."""
    exempt = ("core/original_constants.py", "model/", "metrics/fid.py")
    where = sorted({rel for rel, tree in MODULES if not rel.startswith(exempt)
                    for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and type(node.value) is type(literal) and node.value == literal})
    assert where == [], f"the literal {literal} is written in {where}: use instdiff.core.original_constants"


def test_no_inline_device_fallback():
    """``"cuda" if torch.cuda.is_available() else "cpu"`` is written once, in instdiff.core.device.resolve_device."""
    where = sorted(rel for rel, tree in MODULES if rel != "core/device.py" for node in ast.walk(tree)
                   if isinstance(node, ast.IfExp) and "cuda.is_available" in ast.unparse(node.test)
                   and "'cpu'" in ast.unparse(node.orelse))
    assert where == [], f"a device fallback is written in {where}: call instdiff.core.device.resolve_device"


def _imports(rel: str, tree: ast.Module) -> set[str]:
    """instdiff modules a module imports, at top level or inside functions (a lazy import is still a dependency)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("instdiff")}


def _module_name(rel: str) -> str:
    name = "instdiff." + rel[:-3].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def test_no_module_imports_one_that_imports_it_back():
    graph = {_module_name(rel): _imports(rel, tree) for rel, tree in MODULES}
    pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps
                    if b != a and b in graph and a in graph[b]})
    assert pairs == [], f"import circles: {pairs}"
