"""Jobs that load no model start without torch, diffusers, ultralytics or transformers.

Importing torch and a model library costs a job 5-15 s on the smoke run's 2 cores (benchmarks/README.md), so the
instdiff modules a light script imports keep those imports inside the functions that need them. Each script is
imported the way its job imports it, in a fresh interpreter: one top-level `import torch` anywhere on the chain
(the script's module, a package __init__, a module it imports) fails here.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import lru_cache

import pytest

from tests.conftest import REPO

HEAVY = ("torch", "diffusers", "ultralytics", "transformers", "open_clip", "torchvision", "torch_fidelity")

# The scripts whose jobs run no network and no model: data, layouts, COCO/PiM metrics, tables, figures, manifest.
# Scripts of model jobs (generate, detect, fid, attribute, model builders) may import a model library when they
# run, but also not at import time: the same check covers them, except the two that build a torch model on import.
MODEL_BUILDERS = {"model_convert_instancediffusion", "model_tiny_instancediffusion"}
SCRIPTS = sorted(p.stem for p in (REPO / "scripts").glob("*.py") if p.stem not in MODEL_BUILDERS)


def instdiff_imports(script: str) -> list[str]:
    """The instdiff modules a script imports at its top level, as its job imports them."""
    tree = ast.parse((REPO / "scripts" / f"{script}.py").read_text())
    mods = [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("instdiff")]
    mods += [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names if a.name.startswith("instdiff")]
    return mods


@lru_cache(maxsize=None)
def heavy_after_import(modules: tuple[str, ...]) -> list[str]:
    """Model libraries in sys.modules after a fresh interpreter imports ``modules`` (cached: scripts share sets)."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(modules)!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(json.dumps(sorted(h for h in {HEAVY!r} if h in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_script_imports_instdiff():
    # Guards the scan itself: a script layout the AST walk misses would make the test below vacuous.
    assert all(instdiff_imports(s) for s in SCRIPTS), [s for s in SCRIPTS if not instdiff_imports(s)]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_imports_no_model_library(script):
    assert heavy_after_import(tuple(sorted(instdiff_imports(script)))) == [], f"scripts/{script}.py pulls a model library on import"


def test_the_check_sees_a_heavy_import():
    # The check can fail: a module that imports torch at its top level is reported.
    assert "torch" in heavy_after_import(("instdiff.model.tiny",))
