"""The instdiff command says when it runs another checkout's code (a moved or copied checkout's .venv)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from instdiff.core.checkout import FIX, PACKAGE_DIR, checkout_of, other_checkout_message
from tests.conftest import REPO


def _checkout(root: Path) -> Path:
    (root / "instdiff").mkdir(parents=True)
    (root / "instdiff" / "__init__.py").write_text("")
    (root / "Snakefile").write_text("")
    return root


def test_a_checkout_whose_code_is_not_the_code_running_is_named_with_the_fix(tmp_path):
    moved = _checkout(tmp_path / "moved")
    (moved / "results").mkdir()
    assert checkout_of(moved / "results") == moved.resolve()
    message = other_checkout_message(moved / "results", package_dir=REPO / "instdiff")
    assert str(moved.resolve()) in message and str(REPO) in message and FIX in message
    assert other_checkout_message(REPO, package_dir=REPO / "instdiff") is None
    assert other_checkout_message(tmp_path, package_dir=REPO / "instdiff") is None  # not a checkout: nothing to say


def test_the_command_warns_in_another_checkout(tmp_path):
    moved = _checkout(tmp_path / "moved")
    exe = Path(sys.executable).with_name("instdiff")
    proc = subprocess.run([str(exe), "pim", "--help"], cwd=moved, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "warning" in proc.stderr and FIX in proc.stderr and str(PACKAGE_DIR.parent) in proc.stderr
    here = subprocess.run([str(exe), "pim", "--help"], cwd=PACKAGE_DIR.parent, capture_output=True, text=True,
                          timeout=120)
    assert "warning" not in here.stderr
