"""Shared test helpers: where the repository and the shared fixtures are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# ultralytics reads these once, at its first import. Every entry point of the package imports it through
# instdiff.ultralytics_env.setup(); a test that unpickles a YOLO file directly would import it first and turn safe
# loading off for the rest of the session, so the test process starts with the same environment setup() gives.
for _key in ("YOLO_OFFLINE", "ULTRALYTICS_SAFE_LOAD"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")


def _resolve(env_var: str, default: str) -> Path:
    """An env-var path, relative ones taken from the repository root (not the working directory)."""
    path = Path(os.environ.get(env_var, default))
    path = path if path.is_absolute() else (REPO / path).resolve()
    if not path.is_dir():
        # A missing fixture folder is an error, never a silent skip: these tests are the parity proof.
        raise FileNotFoundError(f"fixture folder {path} does not exist; set {env_var} to it")
    return path


def parity_fixtures() -> Path:
    """INSTDIFF_PARITY_FIXTURES (default ../shared/fixtures/instdiff-parity), relative to the repository root."""
    return _resolve("INSTDIFF_PARITY_FIXTURES", "../shared/fixtures/instdiff-parity")


def shared_fixtures() -> Path:
    """INSTDIFF_SHARED_FIXTURES (default ../shared/fixtures), relative to the repository root."""
    return _resolve("INSTDIFF_SHARED_FIXTURES", "../shared/fixtures")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
