"""``instdiff lock-envs``: each conda env's pip section as a full lock with hashes, from ``envs/<env>.in``.

``envs/<env>.in`` holds an env's direct pins (what a person edits); ``uv pip compile --generate-hashes`` resolves
them, transitive dependencies included, for the platform clusters run (Linux x86_64, glibc 2.28+, Python 3.11), and
the result replaces the pip section of ``envs/<env>.yaml``. pip installs it in hash-checking mode, so a site's env
holds exactly the files CI checked. The lock stays inside the env file, not beside it: Snakemake hashes (and
``snakemake --containerize`` copies) the env file alone, so an edited lock must change that file.

The env file records the sha256 of the ``.in`` it was locked from; tests/unit/test_envs.py fails when they differ.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path

ENVS_DIR = Path(__file__).resolve().parents[2] / "envs"
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux_2_28"
DIGEST_LINE = re.compile(r"^# Locked from (\S+) sha256 ([0-9a-f]{64})\n(# \(`instdiff lock-envs`.*\n)?", re.M)
PIP_MARK = "  - pip:"


def requirements_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def locked_from(env_file: Path) -> str | None:
    """The sha256 of the ``.in`` the env file was locked from (None: never locked)."""
    m = DIGEST_LINE.search(Path(env_file).read_text())
    return m.group(2) if m else None


def compile_lock(requirements: Path) -> list[str]:
    """``name==version --hash=sha256:...`` lines of the full resolution of ``requirements`` (uv, PyPI)."""
    proc = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--generate-hashes", "--no-annotate", "--no-header",
         "--python-version", PYTHON_VERSION, "--python-platform", PLATFORM, str(requirements)],
        capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise InputError(requirements, f"the pins do not resolve:\n{proc.stderr[-3000:]}",
                         "fix the conflicting pin named above, then relock")
    return [" ".join(part.strip() for part in entry.split("\\\n")) for entry in
            re.split(r"\n(?=\S)", proc.stdout.strip())]


def write_env(env_file: Path, requirements: Path, lock: list[str]) -> None:
    """Replace the env file's pip section (and its lock line) with ``lock``; the rest of the file is kept."""
    text = Path(env_file).read_text()
    head = text[: text.index(PIP_MARK)] if PIP_MARK in text else text
    head = DIGEST_LINE.sub("", head)
    stamp = (f"# Locked from envs/{requirements.name} sha256 {requirements_digest(requirements)}\n"
             f"# (`instdiff lock-envs`: uv, Python {PYTHON_VERSION}, {PLATFORM}): edit that file, then relock.\n")
    body = "".join(f"      - {json.dumps(line)}\n" for line in ["--require-hashes", *lock])
    with atomic_path(env_file) as tmp:
        Path(tmp).write_text(stamp + head.lstrip("\n") + PIP_MARK + "\n" + body)


def lock_env(name: str, envs_dir: Path = ENVS_DIR) -> int:
    requirements, env_file = envs_dir / f"{name}.in", envs_dir / f"{name}.yaml"
    lock = compile_lock(requirements)
    write_env(env_file, requirements, lock)
    return len(lock)


def register(sub) -> None:
    p = sub.add_parser("lock-envs", help="relock envs/<env>.yaml's pip section from envs/<env>.in (uv, hashes)")
    p.description = "Relock each env's pip section from envs/<env>.in with uv (every package pinned, with hashes), so a site's conda env installs exactly what CI tested. Run after editing an envs/<env>.in; commit the yaml and the regenerated Dockerfile."
    p.add_argument("envs", nargs="*", help="env names (default: every envs/*.in)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from instdiff.cli import print_json

    names = args.envs or sorted(p.stem for p in ENVS_DIR.glob("*.in"))
    print_json({name: {"packages": lock_env(name)} for name in names})
    return 0
