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
