"""The behaviour hash of package code (instdiff.core.code_version): comments, docstrings and formatting do not count,
a changed computation does, and only in the modules that are imported."""

from __future__ import annotations

import shutil
from pathlib import Path

from instdiff.core.code_version import code_hash, module_code_version


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "instdiff"
    (pkg / "gen").mkdir(parents=True)
    (pkg / "other").mkdir()
    for d in (pkg, pkg / "gen", pkg / "other"):
        (d / "__init__.py").write_text("")
    (pkg / "gen" / "runner.py").write_text('"""Runs."""\n\ndef run():\n    from instdiff.gen import math\n'
                                          "    return math.scale(2)\n")
    (pkg / "gen" / "math.py").write_text('"""Math."""\nFACTOR = 3  # why three\n\n\ndef scale(x):\n'
                                        '    """Scaled."""\n    return x * FACTOR\n')
    (pkg / "other" / "unused.py").write_text("VALUE = 1\n")
    return pkg


def test_comments_docstrings_and_formatting_keep_the_version(tmp_path):
    pkg = _package(tmp_path)
    before = module_code_version("instdiff.gen.runner", pkg)
    math = pkg / "gen" / "math.py"
    math.write_text('"""Math, reworded."""\n# a new comment\nFACTOR = (\n    3\n)  # still three\n\n\n'
                    'def scale(x):\n    """Scaled by FACTOR."""\n\n    return x*FACTOR\n')
    assert module_code_version("instdiff.gen.runner", pkg) == before
    (pkg / "other" / "unused.py").write_text("VALUE = 2\n")  # not imported by the runner
    assert module_code_version("instdiff.gen.runner", pkg) == before


def test_a_behavioural_change_in_an_imported_module_changes_the_version(tmp_path):
    pkg = _package(tmp_path)
    before = module_code_version("instdiff.gen.runner", pkg)
    math = pkg / "gen" / "math.py"
    math.write_text(math.read_text().replace("FACTOR = 3", "FACTOR = 4"))
    assert module_code_version("instdiff.gen.runner", pkg) != before


def test_script_code_hash_ignores_comments_but_not_code(tmp_path):
    pkg = _package(tmp_path)
    script = tmp_path / "script.py"
    script.write_text("from instdiff.gen.runner import run\nrun()\n")
    before = code_hash(script, pkg)
    shutil.copy(script, tmp_path / "copy.py")
    (tmp_path / "copy.py").write_text("# entry point\nfrom instdiff.gen.runner import run\n\nrun()  # go\n")
    assert code_hash(tmp_path / "copy.py", pkg) == before
    (tmp_path / "edit.py").write_text("from instdiff.gen.runner import run\nrun()\nrun()\n")
    assert code_hash(tmp_path / "edit.py", pkg) != before


def _fresh_process_state(monkeypatch):
    """What a new process starts with: no facts in memory, no cache file loaded, nothing to write back."""
    import instdiff.core.code_version as cv

    monkeypatch.setattr(cv, "_FACTS", {})
    monkeypatch.setattr(cv, "_CACHE_FILES", {})
    monkeypatch.setattr(cv, "_DIRTY", set())
    cv.code_hash.cache_clear()
    cv._imported_modules_of.cache_clear()
    cv._module_file.cache_clear()
    return cv


def test_a_later_process_hashes_from_the_cache_file_and_an_edit_is_still_seen(tmp_path, monkeypatch):
    """The facts cache beside the checkout spares a later process every parse; it is keyed by each file's text, so
    an edited file is parsed again, and a corrupt cache file only costs the parse."""
    pkg = _package(tmp_path)
    script = tmp_path / "script.py"
    script.write_text("from instdiff.gen.runner import run\nrun()\n")
    cv = _fresh_process_state(monkeypatch)
    cold = cv.code_hash(script, pkg)
    cv._save_caches()  # what atexit does
    cache = cv._cache_file(pkg)
    assert cache.is_file() and cache.parent == tmp_path / ".snakemake" / "instdiff"

    cv = _fresh_process_state(monkeypatch)
    real_parse = cv.ast.parse
    monkeypatch.setattr(cv.ast, "parse", lambda *a, **k: (_ for _ in ()).throw(AssertionError("parsed")))
    assert cv.code_hash(script, pkg) == cold  # nothing parsed: every fact came from the file
    monkeypatch.setattr(cv.ast, "parse", real_parse)

    math = pkg / "gen" / "math.py"
    math.write_text(math.read_text().replace("FACTOR = 3", "FACTOR = 4"))
    cv = _fresh_process_state(monkeypatch)
    edited = cv.code_hash(script, pkg)
    assert edited != cold

    cache.write_text('{"version": 1, "files": {"x": 3}} trailing garbage')
    cv = _fresh_process_state(monkeypatch)
    assert cv.code_hash(script, pkg) == edited
    # valid JSON whose entries are not what this module writes: ignored too, not a crash
    import hashlib
    import json

    keys = [hashlib.sha256(p.read_text().encode()).hexdigest() for p in (script, *pkg.rglob("*.py"))]
    cache.write_text(json.dumps({"version": 1, "files": {k: {"dump": 1, "imports": 3} for k in keys}}))
    cv = _fresh_process_state(monkeypatch)
    assert cv.code_hash(script, pkg) == edited
