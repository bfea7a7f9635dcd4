"""No job imports a package its conda env lacks: a static scan of each rule's script and the instdiff code it
imports (instdiff.core.code_version.closure), against the env's pins and their dependencies (read from this
environment's metadata: the pins agree, tests/unit/test_envs.py). Import names map to distributions through the
installed packages' metadata (PIL -> pillow, yaml -> pyyaml, open_clip -> open_clip_torch). The rule -> (env,
script) pairs come from the workflow Snakemake parses, with the smoke and the paper config (some rules exist in
one only), so the env checked is the one the job gets."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from instdiff.core.code_version import closure
from tests.conftest import REPO

# Imports inside functions a given job never calls. Each entry says why; a new unlisted import fails the test.
NOT_RUN = {
    ("report", "report_figures", "torch"): "metrics.fid.read_image_list needs no torch; provenance.torch_info guards it",
    ("report", "report_figures", "torchmetrics"): "metrics.fid.read_image_list needs no torchmetrics",
    ("report", "report_tables", "torch"): "provenance.torch_info returns {'available': False} without torch",
}

# Parses the workflow and prints {rule: [conda env file, script]} for the rules that have both.
RULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(snakefile=Path("Snakefile"), resource_settings=ResourceSettings(cores=1),
                      config_settings=ConfigSettings(configfiles=[Path(sys.argv[1])]))._workflow
    print(json.dumps({r.name: [str(r.conda_env), str(r.script)] for r in wf.rules if r.conda_env and r.script}))
"""


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


@lru_cache(maxsize=None)
def rule_scripts() -> frozenset[tuple[str, str]]:
    """(env, script) of every rule with both `conda:` and `script:`, as Snakemake resolves them."""
    pairs = set()
    for configfile in ("config/smoke.yaml", "config/config.yaml"):
        proc = subprocess.run([sys.executable, "-c", RULES, configfile], cwd=REPO, capture_output=True, text=True,
                              timeout=600, check=True)
        for env, script in json.loads(proc.stdout.strip().splitlines()[-1]).values():
            pairs.add((Path(env).stem, Path(script).stem))
    return frozenset(pairs)


def third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"instdiff", "snakemake", "__future__"}


@lru_cache(maxsize=None)
def env_distributions(env: str | Path) -> frozenset[str]:
    """The env's pinned packages and everything they require (extras aside); ``env`` names a file of envs/ or is
    the path of an env file."""
    path = env if isinstance(env, Path) else REPO / "envs" / f"{env}.yaml"
    spec = yaml.safe_load(path.read_text())
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


def script_imports(path: Path) -> set[str]:
    """Top-level third-party modules the script and the instdiff modules it reaches import."""
    return set().union(*(third_party_imports(f) for f in [path, *closure(path, REPO / "instdiff")]))


def missing_imports(env: str | Path, script: Path, not_run: frozenset[str] = frozenset()) -> list[str]:
    """The modules ``script`` imports that no distribution of ``env`` provides (``not_run`` left out)."""
    have = env_distributions(env)
    return sorted(m for m in script_imports(script) if m not in not_run
                  and not {_norm(d) for d in providers().get(m, [m])} & have)


def test_every_script_rule_has_an_env():
    assert len(PAIRS) >= 30, PAIRS
    assert {env for env, _ in PAIRS} == {"torch", "cogvlm", "report"}, "the torch stages share envs/torch.yaml"


@pytest.mark.parametrize(("env", "script"), PAIRS)
def test_no_job_imports_a_package_its_env_lacks(env, script):
    not_run = frozenset(m for (e, s, m) in NOT_RUN if (e, s) == (env, script))
    missing = missing_imports(env, REPO / "scripts" / f"{script}.py", not_run)
    assert not missing, f"rule script {script}.py imports {missing}, which envs/{env}.yaml does not provide"


def test_a_job_in_the_wrong_env_is_caught():
    """The generation script under the report env (no torch stack) must fail the check."""
    missing = missing_imports("report", REPO / "scripts" / "generation_shard.py")
    assert {"torch", "diffusers", "transformers"} <= set(missing), missing


def test_import_names_map_to_their_distributions(tmp_path):
    """`import PIL` is pillow, `import yaml` is pyyaml, `import skimage` is scikit-image, `import open_clip` is
    open_clip_torch: an env that pins the distribution provides the import, one that lacks it does not."""
    script = tmp_path / "job.py"
    script.write_text("import PIL.Image\nimport yaml\nfrom skimage import io\nimport open_clip\n")
    full = tmp_path / "full.yaml"
    full.write_text(yaml.safe_dump({"dependencies": ["python =3.11.7", {"pip": [
        "pillow==13.0.0", "pyyaml==6.0.3", "scikit-image==0.26.0", "open_clip_torch==3.3.0"]}]}))
    assert missing_imports(full, script) == []
    lacking = tmp_path / "lacking.yaml"  # a wrong mapping: the import names themselves pinned, not the distributions
    lacking.write_text(yaml.safe_dump({"dependencies": [{"pip": ["PIL==1", "skimage==1"]}]}))
    assert missing_imports(lacking, script) == ["PIL", "open_clip", "skimage", "yaml"]


def test_the_exceptions_are_still_needed():
    for (env, script, module), why in NOT_RUN.items():
        modules = script_imports(REPO / "scripts" / f"{script}.py")
        provided = {_norm(d) for d in providers().get(module, [module])} & env_distributions(env)
        assert module in modules and not provided, f"NOT_RUN entry {(env, script, module)} is stale ({why})"
