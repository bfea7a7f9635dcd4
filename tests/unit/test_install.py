"""`make install` on a stock Debian/Ubuntu python3: externally managed (PEP 668), maybe without python3-venv.

A stand-in interpreter behaves like Debian 12's /usr/bin/python3: `-m pip install` is refused as externally managed,
and (for the second case) `ensurepip` is missing as it is without the python3-venv package.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import REPO

STOCK_PYTHON = """#!/bin/sh
case "$*" in
  *"-m pip install"*) echo "error: externally-managed-environment" >&2; exit 1;;
  *ensurepip*) [ -n "$NO_VENV" ] && { echo "No module named ensurepip" >&2; exit 1; };;
esac
exec /usr/bin/env python3 "$@"
"""


def _make(tmp_path: Path, *args: str, no_venv: bool = False) -> subprocess.CompletedProcess:
    python = tmp_path / "python3"
    python.write_text(STOCK_PYTHON)
    python.chmod(0o755)
    env = {**os.environ, "NO_VENV": "1" if no_venv else ""}
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args, f"PYTHON={python}", "UV=",
                           f"VENV={tmp_path / 'venv'}", "install"], env=env, capture_output=True, text=True,
                          timeout=60)


def test_install_makes_the_venv_first_and_never_pip_installs_into_the_system_python(tmp_path):
    """The plan (make -n): the venv by `python3 -m venv`, uv by the venv's own pip, the packages by that uv."""
    out = _make(tmp_path, "-n")
    assert out.returncode == 0, out.stderr
    python = str(tmp_path / "python3")
    lines = out.stdout.splitlines()
    assert any(line.startswith(f"{python} -m venv ") for line in lines), out.stdout
    assert not any(line.startswith(f"{python} -m pip") or f"{python} -m uv" in line for line in lines), out.stdout
    assert any(f"{tmp_path}/venv/bin/uv pip install" in line for line in lines), out.stdout


def test_install_without_python3_venv_names_the_package_to_install(tmp_path):
    out = _make(tmp_path, no_venv=True)
    assert out.returncode != 0
    assert "apt-get install python3-venv" in out.stderr, out.stderr
    assert not (tmp_path / "venv").exists()
