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


def _direct_pins(path) -> list[str]:
    """The direct pins of an env: envs/<env>.in (the env file holds their full lock)."""
    lines = (path.with_suffix(".in")).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_env_is_valid_and_pinned(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"], "conda-forge only, no defaults channel"
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            assert re.fullmatch(r"[\w.-]+ ?=[\w.*]+", dep), f"{path.name}: conda dependency {dep!r} is not pinned"
    pins = _pyproject_pins()
    pip = _direct_pins(path)
    assert pip, f"{path.name}: the Python packages come from the pip section"
    for req in pip:
        assert "==" in req, f"{path.name}: {req!r} is not pinned with =="
        name, version = req.split("==")
        if path.stem in INDEPENDENT_ENVS:
            continue
        assert _norm(name) in pins, f"{path.name}: {name} is not a dependency in pyproject.toml"
        assert pins[_norm(name)] == version, f"{path.name}: {name}=={version} but pyproject.toml pins {pins[_norm(name)]}"


def _lock(path) -> dict[str, str]:
    """name -> version of the env file's locked pip section, checking that every entry carries its hashes."""
    pip = _pip_section(yaml.safe_load(path.read_text()))
    assert pip[0] == "--require-hashes", f"{path.name}: pip must install in hash-checking mode"
    locked = {}
    for line in pip[1:]:
        m = re.fullmatch(r"([\w.-]+)==(\S+)( --hash=sha256:[0-9a-f]{64})+", line)
        assert m, f"{path.name}: {line[:80]!r} is not a pinned, hashed requirement"
        locked[_norm(m.group(1))] = m.group(2)
    return locked


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_env_is_locked_from_its_requirements(path):
    """envs/<env>.yaml's pip section is the lock of envs/<env>.in: edit the .in without `instdiff lock-envs` and this
    fails (the digest of the .in the lock was made from is recorded in the env file)."""
    from instdiff.commands.lock_envs import locked_from, requirements_digest

    assert locked_from(path) == requirements_digest(path.with_suffix(".in")), (
        f"{path.name} is out of date with {path.stem}.in: run `instdiff lock-envs {path.stem}` and commit both")
    locked = _lock(path)
    for req in _direct_pins(path):
        name, version = req.split("==")
        assert locked.get(_norm(name)) == version, f"{path.name}: {name}=={version} is not what the lock holds"


def test_an_edited_requirements_file_makes_the_lock_stale(tmp_path):
    from instdiff.commands.lock_envs import locked_from, requirements_digest

    env = REPO / "envs" / "report.yaml"
    edited = tmp_path / "report.in"
    edited.write_text(env.with_suffix(".in").read_text().replace("tqdm==", "tqdm>="))
    assert locked_from(env) != requirements_digest(edited)


def _venv_with_lock(path, tmp_path, *uv_args: str) -> tuple[subprocess.CompletedProcess, str]:
    """A plain venv (uv) and the env's locked pip section installed into it, as pip in the conda env would."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("\n".join(_pip_section(yaml.safe_load(path.read_text()))) + "\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--require-hashes",
                           "--python", str(venv / "bin" / "python"), *uv_args, "-r", str(reqs)],
                          capture_output=True, text=True, timeout=900)
    return proc, str(venv / "bin" / "python")


# Installed for real and import-checked: the report env (small) and the torch env (its wheels are the ones
# `make install` put into uv's cache: 39 s for 5.5 GB measured here). CogVLM's torch 2.3 / xformers stack is not
# in the cache (GBs of CUDA wheels): its lock is resolved with its hashes (--dry-run), not installed.
INSTALLED_ENVS = ("report", "torch")


@pytest.mark.parametrize("name", INSTALLED_ENVS)
def test_env_lock_installs_and_every_module_its_rules_use_imports(name, tmp_path):
    from instdiff.core.code_version import closure
    from tests.unit.test_env_imports import NOT_RUN, PAIRS, script_imports

    proc, python = _venv_with_lock(REPO / "envs" / f"{name}.yaml", tmp_path)
    assert proc.returncode == 0, f"envs/{name}.yaml does not install:\n{proc.stderr[-3000:]}"
    modules: set[str] = set()
    for env, script in PAIRS:
        if env != name:
            continue
        path = REPO / "scripts" / f"{script}.py"
        not_run = {m for (e, s, m) in NOT_RUN if (e, s) == (env, script)}
        modules |= {m for m in script_imports(path) if m not in not_run and m != "snakemake"}
        modules |= {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
                    for p in closure(path, REPO / "instdiff")}
    assert modules
    check = subprocess.run([python, "-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)",
                            *sorted(modules)], cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                                              "HOME": str(tmp_path)},
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, f"envs/{name}.yaml lacks a module its rules import:\n{check.stderr[-3000:]}"


@pytest.mark.parametrize("path", [p for p in ENVS if p.stem not in INSTALLED_ENVS], ids=lambda p: p.stem)
def test_env_lock_resolves_with_its_hashes(path, tmp_path):
    """The envs too heavy to install here: uv resolves the lock (every pin, in hash-checking mode) without
    installing it, so a yanked or unsatisfiable pin fails here and not on the cluster."""
    proc, _ = _venv_with_lock(path, tmp_path, "--dry-run", "--python-platform", "x86_64-manylinux_2_28")
    assert proc.returncode == 0, f"{path.name} does not resolve:\n{proc.stderr[-3000:]}"


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
