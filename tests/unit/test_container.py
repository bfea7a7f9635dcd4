"""The container for apptainer sites: ./Dockerfile is exactly what `snakemake --containerize` writes from envs/, and
the Snakefile's `containerized:` names the image a site builds from it (README "Apptainer")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# `snakemake --containerize` asks conda for its prefix and platform, neither of which reaches the Dockerfile (an
# env's prefix in the image is the hash of its file's content). Conda channels are out of reach here: a stub answers.
CONDA_STUB = """#!/bin/sh
case "$*" in
  "info --json") echo '{"conda_prefix": "/opt/conda", "platform": "linux-64"}';;
  "--version") echo "conda 24.7.1";;
  *) echo '{"get": {"channel_priority": "strict"}}';;
esac
"""

CONTAINER = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(snakefile=Path("Snakefile"), resource_settings=ResourceSettings(cores=1),
                      config_settings=ConfigSettings(configfiles=[Path(sys.argv[1])]))._workflow
    print(json.dumps(sorted({(r.container_img, r.is_containerized) for r in wf.rules if r.conda_env})))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    stub = tmp_path / "bin" / "conda"
    stub.parent.mkdir()
    stub.write_text(CONDA_STUB)
    stub.chmod(0o755)
    return {**os.environ, "PATH": f"{stub.parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                                  f"{os.environ.get('PATH', '')}"}


def test_the_dockerfile_is_what_snakemake_containerize_writes_from_envs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--containerize", "--configfile", "config/config.yaml"],
                          cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("FROM ")
    for env in sorted((REPO / "envs").glob("*.yaml")):
        assert f"COPY envs/{env.name} " in proc.stdout, env.name
    assert proc.stdout == (REPO / "Dockerfile").read_text(), (
        "Dockerfile is out of date with envs/: regenerate it with "
        "`snakemake --containerize --configfile config/config.yaml > Dockerfile` and commit it")


def test_the_workflow_runs_its_conda_envs_inside_the_built_image():
    for configfile in ("config/config.yaml", "config/smoke.yaml"):
        proc = subprocess.run([sys.executable, "-c", CONTAINER, configfile], cwd=REPO, capture_output=True,
                              text=True, timeout=600, check=True)
        # every rule with a conda env runs it inside the image (Snakemake gives them the global directive)
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == [["instdiff.sif", True]], proc.stdout[-500:]
