"""A content hash of the package code a Snakemake script runs, for its rule's ``params``.

Snakemake's own code trigger compares a script's mtime (``git checkout`` touches every script, so every job reruns)
and never sees the package the script calls. This hash follows the script's ``instdiff`` imports (statically, every
import anywhere in a module, so lazy imports count) and hashes the contents of those files: editing
``instdiff/metrics/pim.py`` reruns the rules that import it, and only those; touching a file reruns nothing.
Parsing only (no import), so the Snakefile stays cheap to load in every SLURM job.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "instdiff"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # instdiff/ (this file is instdiff/core/code_version.py)


@lru_cache(maxsize=None)
def _module_file(name: str, package_dir: Path) -> Path | None:
    """The file of module ``instdiff.a.b`` (a module or a package's ``__init__``), or None. Cached: a process hashes
    one checkout as it is (a Snakefile load); the files' contents are re-read for every hash."""
    parts = name.split(".")[1:]
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, package_dir: Path) -> str:
    rel = path.relative_to(package_dir).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def _source(path: Path) -> tuple[str, str]:
    """What the per-file caches below are keyed on: the file and its text. Reading is cheap, parsing is not; a stat
    key could miss an edit within the filesystem's timestamp tick."""
    return str(path), path.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _python_file(source: tuple[str, str]) -> tuple[ast.Module, bytes]:
    """One parse per Python file version: its tree without docstrings and that tree's dump (:func:`behaviour_digest`).
    A Snakefile load hashes about 60 scripts whose closures share most of the package; parsed once per script, the
    shared modules made CODE() most of the workflow's load time (benchmarks/README.md, "Parsing the workflow").
    Docstrings hold no imports, so the import scan reads the same tree. Callers must not mutate it."""
    tree = _strip_docstrings(ast.parse(source[1], filename=source[0]))
    return tree, ast.dump(tree, annotate_fields=False, include_attributes=False).encode("utf-8")


def _imported_modules(path: Path, package_dir: Path) -> frozenset[str]:
    """Every ``instdiff`` module a file imports (absolute and relative, at any depth of the file)."""
    return _imported_modules_of(_source(path), package_dir)


@lru_cache(maxsize=None)
def _imported_modules_of(source: tuple[str, str], package_dir: Path) -> frozenset[str]:
    path = Path(source[0])
    tree, _ = _python_file(source)
    here = _module_name(path, package_dir) if package_dir in path.parents else None
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level and here:
                anchor = here.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != PACKAGE:
                continue
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return frozenset(found)


def closure(script: str | Path, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package files ``script`` may run: its imports, theirs, and the packages that hold them."""
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        path = todo.pop()
        for name in _imported_modules(path, package_dir):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                file = _module_file(".".join(parts[:depth]), package_dir)
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return sorted(seen)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value,
                                                                                                   str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def behaviour_digest(path: Path) -> bytes:
    """What a file does, as bytes to hash: for Python its syntax tree without docstrings, comments, line numbers
    and formatting (``ast.dump`` leaves out positions; the parser drops comments); other files byte for byte."""
    path = Path(path)
    if path.suffix != ".py":
        return path.read_bytes()
    return _python_file(_source(path))[1]


def _files_hash(files: list[Path], package_dir: Path) -> hashlib._Hash:
    h = hashlib.sha256()
    for file in files:
        h.update(file.relative_to(package_dir).as_posix().encode() + b"\0" + behaviour_digest(file) + b"\0")
    return h


def module_code_version(module: str, package_dir: Path = PACKAGE_DIR) -> str:
    """The behaviour hash of package module ``module`` (``instdiff.generation.shard``) and every package module it
    imports, at any depth, lazy imports included: a changed computation anywhere in it changes the version; a
    comment, docstring or reformatting does not."""
    file = _module_file(module, package_dir)
    if file is None:
        raise ValueError(f"{module} is not a module of {package_dir}")
    files = sorted({file, *closure(file, package_dir)})
    return _files_hash(files, package_dir).hexdigest()[:16]


@lru_cache(maxsize=None)
def code_hash(script: str | Path, package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the script's behaviour and its package closure's (:func:`behaviour_digest`), keyed by
    package-relative names (not absolute paths, so a moved checkout hashes the same)."""
    script = Path(script)
    h = _files_hash(closure(script, package_dir), package_dir)
    h.update(b"script\0" + behaviour_digest(script) + b"\0")
    return h.hexdigest()[:16]
