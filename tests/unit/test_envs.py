"""Per-stage conda envs: every rule names one, every env is valid and pinned, pins agree with pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from tests.conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
# CogVLM's remote code needs an older stack (transformers 4.41, torch 2.3, xformers; see envs/cogvlm.yaml): its
# pins are checked for form and resolvability, not against pyproject.toml.
INDEPENDENT_ENVS = {"cogvlm"}


def _pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_norm(d.split("==")[0]): d.split("==")[1] for d in deps}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_section(env: dict) -> list[str]:
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return dep["pip"]
    return []


def _pin_file(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pkg, version = line.split("==")
            pins[_norm(pkg)] = version
    return pins


def test_one_shared_torch_env_and_the_two_that_cannot_share_it():
    """The torch stages share envs/torch.yaml; CogVLM's older stack and the torch-free report have their own."""
    assert {p.stem for p in ENVS} == {"torch", "cogvlm", "report"}
    torch_env = {_norm(r.split("==")[0]) for r in _pip_section(yaml.safe_load((REPO / "envs" / "torch.yaml").read_text()))}
    assert {"torch", "diffusers", "ultralytics", "open-clip-torch", "torchmetrics", "openai"} <= torch_env
    report = {_norm(r.split("==")[0]) for r in _pip_section(yaml.safe_load((REPO / "envs" / "report.yaml").read_text()))}
    assert "torch" not in report


def test_pyproject_requirements_and_constraints_agree():
    """The three pin lists the envs are checked against say the same versions (constraints.txt: torch's pair)."""
    pyproject, requirements, constraints = _pyproject_pins(), _pin_file("requirements.txt"), _pin_file("constraints.txt")
    assert {k: v for k, v in requirements.items() if k in pyproject} == {k: pyproject[k] for k in requirements
                                                                          if k in pyproject}
    assert set(pyproject) <= set(requirements), set(pyproject) - set(requirements)
    assert constraints and all(requirements[k] == v for k, v in constraints.items()), constraints


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_env_is_valid_and_pinned(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"], "conda-forge only, no defaults channel"
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            assert re.fullmatch(r"[\w.-]+ ?=[\w.*]+", dep), f"{path.name}: conda dependency {dep!r} is not pinned"
    pins = _pyproject_pins()
    pip = _pip_section(env)
    assert pip, f"{path.name}: the Python packages come from the pip section"
    for req in pip:
        assert "==" in req, f"{path.name}: {req!r} is not pinned with =="
        name, version = req.split("==")
        if path.stem in INDEPENDENT_ENVS:
            continue
        assert _norm(name) in pins, f"{path.name}: {name} is not a dependency in pyproject.toml"
        assert pins[_norm(name)] == version, f"{path.name}: {name}=={version} but pyproject.toml pins {pins[_norm(name)]}"


def _rule_blocks(text: str):
    for m in re.finditer(r"^(rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
        yield m.group(2), m.group(3)


def test_every_rule_with_an_action_names_a_conda_env():
    missing = []
    for smk in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for name, body in _rule_blocks(smk.read_text()):
            has_action = re.search(r"^\s+(script|shell|run|wrapper|notebook):", body, re.M)
            if has_action and not re.search(r"^\s+conda:", body, re.M):
                missing.append(f"{smk.name}:{name}")
    assert not missing, f"rules without a conda env: {missing}"


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_env_pip_section_resolves(path, tmp_path):
    """Resolve against the package index (no install), so a broken pin fails here and not on the cluster."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("\n".join(_pip_section(yaml.safe_load(path.read_text()))) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--python-version", "3.11",
         "--python-platform", "x86_64-manylinux_2_28", "--no-header", str(reqs)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"{path.name} does not resolve:\n{proc.stderr[-3000:]}"
