"""Reruns follow what an env installs, never where it lives (issue 20, item 2).

Two cheap jobs of different envs run once (raters_synthetic: envs/report.yaml; synthetic_coco: envs/torch.yaml),
then dry runs ask what would rerun: under conda (a ``conda`` stand-in on PATH answers the questions Snakemake asks
of conda in a dry run; conda channels are out of reach here) with another ``--conda-prefix``, after moving the
checkout, and after editing an env file.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.workflow.conftest import copy_repo, run_snakemake
from tests.workflow.test_dag import _jobs

pytestmark = pytest.mark.workflow

TARGETS = {
    "raters_synthetic": "results/smoke/raters/synthetic/ratings.csv",  # envs/report.yaml
    "synthetic_coco": "results/smoke/data/source/annotations/instances_val2017.json",  # envs/torch.yaml
}

# What Snakemake asks of conda before a dry run with --sdm conda: its info, version and channel priority.
CONDA_STUB = """#!/bin/sh
case "$*" in
  "info --json") printf '{"conda_prefix": "/opt/conda", "platform": "linux-64"}\\n' ;;
  "--version") echo "conda 24.7.1" ;;
  "config --get channel_priority --json") printf '{"get": {"channel_priority": "strict"}}\\n' ;;
  *) echo "conda stand-in cannot: $*" >&2; exit 1 ;;
esac
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict[str, Path]:
    """A copy of the repository where the two jobs ran (without conda), and a bin folder holding the conda stub."""
    base = tmp_path_factory.mktemp("envrerun")
    root = copy_repo(base / "repo")
    run_snakemake([*TARGETS.values(), "--cores", "1"], cwd=root)
    stub = base / "bin" / "conda"
    stub.parent.mkdir()
    stub.write_text(CONDA_STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return {"root": root, "bin": stub.parent, "base": base}


def planned(root: Path, *args: str, conda_bin: Path | None = None) -> set[str]:
    """The rules a dry run of the two targets would run."""
    old_path = os.environ.get("PATH", "")
    if conda_bin is not None:
        os.environ["PATH"] = f"{conda_bin}{os.pathsep}{old_path}"
    try:
        proc = run_snakemake([*TARGETS.values(), "-n", *args], cwd=root)
    finally:
        os.environ["PATH"] = old_path
    return {job["rule"] for job in _jobs(proc.stdout)}


def test_conda_and_any_conda_prefix_rerun_nothing(ran):
    root = ran["root"]
    assert planned(root) == set()
    for prefix in ("conda-a", "conda-b"):
        assert planned(root, "--sdm", "conda", "--conda-prefix", str(ran["base"] / prefix),
                       conda_bin=ran["bin"]) == set(), f"--conda-prefix {prefix} reruns jobs"


def test_a_moved_checkout_reruns_nothing(ran, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(ran["root"], moved, symlinks=True)  # .snakemake's metadata travels with the checkout
    assert planned(moved) == set()
    assert planned(moved, "--sdm", "conda", conda_bin=ran["bin"]) == set()


@pytest.mark.parametrize("conda", [False, True], ids=["no-conda", "conda"])
def test_editing_an_env_reruns_its_rules_only(ran, tmp_path, conda):
    work = tmp_path / "repo"
    shutil.copytree(ran["root"], work, symlinks=True)
    args = ("--sdm", "conda") if conda else ()
    conda_bin = ran["bin"] if conda else None
    torch_env = work / "envs" / "torch.yaml"
    torch_env.write_text("# a comment changes nothing the env installs\n" + torch_env.read_text())
    assert planned(work, *args, conda_bin=conda_bin) == set()
    report_env = work / "envs" / "report.yaml"
    env = yaml.safe_load(report_env.read_text())
    env["dependencies"].append("tzdata")  # one more package
    report_env.write_text(yaml.safe_dump(env))
    assert planned(work, *args, conda_bin=conda_bin) == {"raters_synthetic"}


def test_every_rule_with_an_env_carries_its_hash():
    """A rule's `conda: conda_env("x")` comes with `params: env=ENV("x")` (the same stage), so editing that env
    reruns it."""
    for path in sorted((REPO / "rules").glob("*.smk")):
        blocks = re.split(r"\n\s*(?=rule\b)", path.read_text())
        for block in blocks[1:]:
            name = re.match(r"rule\s*(\w*)", block).group(1) or block.split("\n", 3)[2].strip()
            envs = re.findall(r'conda_env\("(\w+)"\)', block)
            assert re.findall(r'env=ENV\("(\w+)"\)', block) == envs, f"{path.name}: rule {name}"
