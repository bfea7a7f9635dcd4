"""Shared test helpers: where the repository and the shared fixtures are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def parity_fixtures() -> Path:
    """INSTDIFF_PARITY_FIXTURES, else ../shared/fixtures/instdiff-parity beside the repository."""
    env = os.environ.get("INSTDIFF_PARITY_FIXTURES")
    return Path(env) if env else REPO.parent / "shared" / "fixtures" / "instdiff-parity"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
