"""No job imports a package its conda env lacks: a static scan of each rule's script and the instdiff code it
imports (instdiff.code_version.closure), against the env's pins and their dependencies (read from this
environment's metadata: the pins agree, tests/unit/test_envs.py)."""

from __future__ import annotations

import ast
import re
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from instdiff.code_version import closure
from tests.conftest import REPO

# Imports inside functions a given job never calls. Each entry says why; a new unlisted import fails the test.
NOT_RUN = {
    ("clip", "attribute_metric", "faster_coco_eval"): "metrics.files.coco_file (COCO AP) is not called",
    ("clip", "attribute_metric", "ultralytics"): "metrics.files.coco_file (ultralytics' R) is not called",
    ("clip", "attribute_metric", "matplotlib"): "ultralytics_env (for coco_file's R) is not called",
    ("eval", "coco_metric", "open_clip"): "clip_models is imported by metrics.files.attribute_file only",
    ("eval", "coco_metric", "safetensors"): "clip_models is imported by metrics.files.attribute_file only",
    ("eval", "pim_metric", "open_clip"): "clip_models is imported by metrics.files.attribute_file only",
    ("eval", "pim_metric", "safetensors"): "clip_models is imported by metrics.files.attribute_file only",
    ("report", "figures", "torch"): "metrics.fid.read_image_list needs no torch; provenance.torch_info guards it",
    ("report", "figures", "torchmetrics"): "metrics.fid.read_image_list needs no torchmetrics",
    ("report", "table", "torch"): "provenance.torch_info returns {'available': False} without torch",
}
RULE = re.compile(r"^\s*rule(?:\s+\w+)?:\s*$", re.M)


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def rule_scripts() -> set[tuple[str, str]]:
    """(env, script) of every rule with both `conda:` and `script:`."""
    pairs = set()
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = [m.start() for m in RULE.finditer(text)] + [len(text)]
        for a, b in zip(starts, starts[1:]):
            block = text[a:b]
            env = re.search(r'conda:\s*\n\s*ENV\("(\w+)"\)', block)
            script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', block)
            if env and script:
                pairs.add((env.group(1), script.group(1)))
    return pairs


def third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"instdiff", "snakemake", "__future__"}


@lru_cache(maxsize=None)
def env_distributions(env: str) -> frozenset[str]:
    """The env's pinned packages and everything they require (extras aside)."""
    spec = yaml.safe_load((REPO / "envs" / f"{env}.yaml").read_text())
    todo = []
    for dep in spec["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            todo.append(_norm(re.split(r"[=<>!~\[ ]", item.strip())[0]))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for raw in requires:
            req = Requirement(raw)
            if not (req.marker and "extra" in str(req.marker)):
                todo.append(_norm(req.name))
    return frozenset(seen)


PAIRS = sorted(rule_scripts())


@lru_cache(maxsize=None)
def providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def test_every_script_rule_has_an_env():
    assert len(PAIRS) >= 30, PAIRS


@pytest.mark.parametrize(("env", "script"), PAIRS)
def test_no_job_imports_a_package_its_env_lacks(env, script):
    have = env_distributions(env)
    path = REPO / "scripts" / f"{script}.py"
    modules = set().union(*(third_party_imports(f) for f in [path, *closure(path, REPO / "instdiff")]))
    missing = sorted(m for m in modules if (env, script, m) not in NOT_RUN
                     and not {_norm(d) for d in providers().get(m, [m])} & have)
    assert not missing, f"rule script {script}.py imports {missing}, which envs/{env}.yaml does not provide"


def test_the_exceptions_are_still_needed():
    for (env, script, module), why in NOT_RUN.items():
        path = REPO / "scripts" / f"{script}.py"
        modules = set().union(*(third_party_imports(f) for f in [path, *closure(path, REPO / "instdiff")]))
        provided = {_norm(d) for d in providers().get(module, [module])} & env_distributions(env)
        assert module in modules and not provided, f"NOT_RUN entry {(env, script, module)} is stale ({why})"
