"""A content hash of the package code a Snakemake script runs, for its rule's ``params``.

Snakemake's own code trigger compares a script's mtime (``git checkout`` touches every script, so every job reruns)
and never sees the package the script calls. This hash follows the script's ``instdiff`` imports (statically, every
import anywhere in a module, so lazy imports count) and hashes the contents of those files: editing
``instdiff/metrics/pim.py`` reruns the rules that import it, and only those; touching a file reruns nothing.
Parsing only (no import), so the Snakefile stays cheap to load in every SLURM job.
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
import os
import sys
import tempfile
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


# What a Python file does and imports, by the sha256 of its text: parsed once per process (a Snakefile load hashes
# about 60 scripts whose closures share most of the package) and kept across processes in a JSON file beside the
# checkout (:func:`_disk_cache`), so every Snakemake call, SLURM job and generation shard after the first parses
# only the files that changed (benchmarks/README.md, "Parsing the workflow"). The dump is a pure function of the text
# and the Python version (the file's name carries it); a stale or corrupt cache file is ignored, never trusted
# beyond its keys, and it is data (JSON), not code.
_CACHE_VERSION = 1
_FACTS: dict[str, dict] = {}
_CACHE_FILES: dict[Path, Path] = {}
_DIRTY: set[Path] = set()


def _cache_file(package_dir: Path) -> Path:
    return package_dir.parent / ".snakemake" / "instdiff" / f"code-facts-{sys.implementation.cache_tag}.json"


def _disk_cache(package_dir: Path) -> None:
    """Load the cache file of the checkout holding ``package_dir`` (once per process)."""
    if package_dir in _CACHE_FILES:
        return
    path = _CACHE_FILES[package_dir] = _cache_file(package_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["files"] if data.get("version") == _CACHE_VERSION else {}
        _FACTS.update((k, v) for k, v in entries.items() if _well_formed(v))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass


def _well_formed(facts) -> bool:
    """An entry this module could have written: a dump string and [level, module, [names]] imports."""
    return (isinstance(facts, dict) and isinstance(facts.get("dump"), str) and isinstance(facts.get("imports"), list)
            and all(isinstance(i, list) and len(i) == 3 and isinstance(i[0], int) and isinstance(i[1], str)
                    and isinstance(i[2], list) and all(isinstance(n, str) for n in i[2]) for i in facts["imports"]))


def _save_caches() -> None:
    """atexit: write back each cache file that lacked a fact this process computed (atomically; optional, so a
    read-only checkout only loses the speed-up)."""
    for package_dir in sorted(_DIRTY):
        path = _CACHE_FILES[package_dir]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": _CACHE_VERSION, "files": _FACTS}, fh)
            os.replace(tmp, path)
        except OSError:
            pass


def _facts(source: tuple[str, str], package_dir: Path | None = None) -> dict:
    """``{"dump": the syntax tree without docstrings, "imports": [[level, module, [names]], ...]}`` of a file's text
    (``level`` -1: ``import a.b``, else ``from``'s dots)."""
    key = hashlib.sha256(source[1].encode("utf-8")).hexdigest()
    facts = _FACTS.get(key)
    if facts is None:
        tree = _strip_docstrings(ast.parse(source[1], filename=source[0]))
        imports = []
        for node in ast.walk(tree):  # docstrings hold no imports: the stripped tree has them all
            if isinstance(node, ast.Import):
                imports.extend([-1, a.name, []] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                imports.append([node.level, node.module or "", [a.name for a in node.names]])
        facts = _FACTS[key] = {"dump": ast.dump(tree, annotate_fields=False, include_attributes=False),
                               "imports": imports}
        if package_dir is not None and package_dir in _CACHE_FILES:
            if not _DIRTY:
                atexit.register(_save_caches)
            _DIRTY.add(package_dir)
    return facts


def _imported_modules(path: Path, package_dir: Path) -> frozenset[str]:
    """Every ``instdiff`` module a file imports (absolute and relative, at any depth of the file)."""
    return _imported_modules_of(_source(path), package_dir)


@lru_cache(maxsize=None)
def _imported_modules_of(source: tuple[str, str], package_dir: Path) -> frozenset[str]:
    path = Path(source[0])
    here = _module_name(path, package_dir) if package_dir in path.parents else None
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for level, module, names in _facts(source, package_dir)["imports"]:
        if level == -1:
            if module.split(".")[0] == PACKAGE:
                found.add(module)
            continue
        if level and here:
            anchor = here.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (level - 1)]
            module = ".".join(anchor + ([module] if module else []))
        if module.split(".")[0] != PACKAGE:
            continue
        found.add(module)
        found.update(f"{module}.{name}" for name in names)  # `from pkg import submodule`
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
    return _facts(_source(path))["dump"].encode("utf-8")


def _files_hash(files: list[Path], package_dir: Path) -> hashlib._Hash:
    h = hashlib.sha256()
    for file in files:
        h.update(file.relative_to(package_dir).as_posix().encode() + b"\0" + behaviour_digest(file) + b"\0")
    return h


def module_code_version(module: str, package_dir: Path = PACKAGE_DIR) -> str:
    """The behaviour hash of package module ``module`` (``instdiff.generation.shard``) and every package module it
    imports, at any depth, lazy imports included: a changed computation anywhere in it changes the version; a
    comment, docstring or reformatting does not."""
    _disk_cache(package_dir)
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
    _disk_cache(package_dir)
    h = _files_hash(closure(script, package_dir), package_dir)
    h.update(b"script\0" + behaviour_digest(script) + b"\0")
    return h.hexdigest()[:16]
