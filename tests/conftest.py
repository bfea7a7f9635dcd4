"""Shared test helpers: where the repository and the shared fixtures are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# ultralytics reads these once, at its first import. Every entry point of the package imports it through
# instdiff.detection.ultralytics_env.setup(); a test that unpickles a YOLO file directly would import it first and turn safe
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


# Under pytest-xdist (`make test` runs two workers with --dist loadgroup --no-loadscope-reorder), a worker builds
# each module- and session-scoped fixture it needs. One group per test file keeps every module fixture built once;
# every test of the smoke run is one group, put first, so the one worker that runs the whole smoke DAG (about a core
# on average: Snakemake waits on imports) starts it at once while the other worker runs the rest of the suite.
SMOKE_GROUP = "smoke_run"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        group = SMOKE_GROUP if "smoke_run" in getattr(item, "fixturenames", ()) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_order)


def _order(item) -> int:
    """The smoke group first, its real-SLURM test (minutes) first within it: xdist hands a worker more work once at
    most two of its tests are pending, so work handed to the smoke's worker then waits only behind quick reads."""
    names = getattr(item, "fixturenames", ())
    if SMOKE_GROUP not in names:
        return 2
    return 0 if "slurm_cluster" in names else 1
