"""The pinned conda env of each stage, by the stage names rules and the metric registry use.

The stages that run torch share one env (``envs/torch.yaml``): one torch stack to create and store, not five.
CogVLM's remote code needs an older stack (``envs/cogvlm.yaml``); the report stage needs no torch.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

ENV_FILES = {
    "generate": "torch",
    "detect": "torch",
    "clip": "torch",
    "eval": "torch",
    "llm": "torch",
    "cogvlm": "cogvlm",
    "report": "report",
}


def env_file(stage: str) -> str:
    """``envs/<file>.yaml`` of a stage, relative to the workflow root."""
    return f"envs/{ENV_FILES[stage]}.yaml"


def _pip_requirement_files(env: dict, env_path: Path) -> list[Path]:
    """Files the env's pip section reads (``-r lock.txt``, ``-c constraints.txt``), relative to the env file."""
    files = []
    for dep in env.get("dependencies") or []:
        if isinstance(dep, dict):
            for line in dep.get("pip") or []:
                parts = str(line).split()
                if len(parts) == 2 and parts[0] in ("-r", "--requirement", "-c", "--constraint"):
                    files.append(env_path.parent / parts[1])
    return files


@lru_cache(maxsize=None)
def env_hash(path: str | Path) -> str:
    """sha256 of an env file's content, for a rule's ``params: env=ENV(stage)`` (rules/common.smk).

    What the env installs, and nothing of where: the parsed YAML (a comment or a re-indent changes nothing) plus the
    text of the pip requirement files it names. Snakemake's ``software-env`` trigger hashes the env's folder under
    the conda prefix instead, so another ``--conda-prefix`` or a moved checkout would rerun every job.
    """
    import yaml  # here, not at the top: only the Snakefile's parse needs it

    path = Path(path)
    # libyaml's safe loader where PyYAML has it: the same documents, parsed about ten times faster (the locked envs
    # are long and every Snakemake call loads them).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    env = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506 - a safe loader
    digest = hashlib.sha256(json.dumps(env, sort_keys=True, default=str).encode("utf-8"))
    for extra in _pip_requirement_files(env, path):
        digest.update(b"\0" + extra.name.encode("utf-8") + b"\0" + extra.read_bytes())
    return digest.hexdigest()[:16]
