"""The run manifest: what produced a number (config, code, packages, hardware, seeds, checkpoints, N).

Written once per run (rule ``manifest`` -> ``results/{run}/manifest.json``) and embedded by every metric rule under the
key ``"manifest"``; every table footer names it. Secrets never enter it: :func:`scrub` runs on the assembled manifest
and :func:`write_manifest` refuses to write if any secret value from the environment is still present.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_json

log = logging.getLogger(__name__)

REDACTED = "[REDACTED]"

# Distributions whose versions change numbers (models, metrics, image IO) or the workflow itself.
PACKAGES = (
    "torch", "torchvision", "diffusers", "transformers", "accelerate", "safetensors", "ultralytics", "pycocotools",
    "faster-coco-eval", "open_clip_torch", "timm", "torchmetrics", "torch-fidelity", "scipy", "numpy", "pandas",
    "pillow", "scikit-image", "matplotlib", "openai", "snakemake",
)

# A key whose name says it holds a credential: its value is dropped whatever it looks like.
# Whole name parts only, so ``max_tokens`` or ``tokenizer`` keep their values.
_SECRET_KEY_NAME = re.compile(
    r"(^|[_\-.])(api[_\-]?key|apikey|secret|secrets|token|access[_\-]?token|passw(or)?d|credentials?|authori[sz]ation"
    r"|private[_\-]?key|key)($|[_\-.])", re.I)
# Values that look like credentials wherever they appear (inside strings too).
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{16,}"            # OpenAI and OpenAI-compatible keys (sk-..., sk-proj-...)
    r"|gh[pousr]_[A-Za-z0-9]{20,}"         # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|hf_[A-Za-z0-9]{20,}"                # Hugging Face tokens
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"      # Slack
    r"|AKIA[0-9A-Z]{16}"                   # AWS access key id
    r"|AIza[0-9A-Za-z_\-]{30,}"            # Google API key
    r"|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"  # JWT
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{16,})"
)
# Environment variable names whose values are secrets (their values are redacted wherever they occur).
_SECRET_ENV_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
_MIN_ENV_SECRET_LEN = 8  # shorter values ("1", "yes") would redact ordinary words


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names say they hold secrets (OPENAI_API_KEY, HF_TOKEN, ...)."""
    environ = os.environ if environ is None else environ
    return sorted(
        {v for k, v in environ.items() if _SECRET_ENV_NAME.search(k) and v and len(v) >= _MIN_ENV_SECRET_LEN},
        key=len, reverse=True,
    )


def scrub(obj: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of ``obj`` with every secret replaced by ``"[REDACTED]"``.

    Redacted: values under keys named like credentials (``api_key``, ``token``, ``password``, ...), substrings that
    look like known credential formats (``sk-...``, ``ghp_...``, ``hf_...``, JWTs, ``Bearer ...``) and any occurrence
    of the value of a secret-named environment variable.
    """
    env_secrets = secret_env_values(environ)

    def clean_str(s: str) -> str:
        for secret in env_secrets:
            s = s.replace(secret, REDACTED)
        return _SECRET_VALUE.sub(REDACTED, s)

    def walk(x: Any) -> Any:
        if isinstance(x, Mapping):
            out = {}
            for k, v in x.items():
                key = clean_str(str(k))
                out[key] = REDACTED if (_SECRET_KEY_NAME.search(str(k)) and isinstance(v, str) and v) else walk(v)
            return out
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        if isinstance(x, str):
            return clean_str(x)
        return x

    return walk(obj)


def assert_no_secrets(obj: Any, environ: Mapping[str, str] | None = None) -> None:
    """Raise if a secret survived: the last line of defence before anything is written."""
    text = json.dumps(obj, default=str)
    for secret in secret_env_values(environ):
        if secret in text:
            raise RuntimeError("a secret environment value is present in the manifest; refusing to write it")
    if _SECRET_VALUE.search(text):
        raise RuntimeError("a credential-like string is present in the manifest; refusing to write it")


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the (scrubbed) config: sorted keys, no whitespace, UTF-8."""
    canonical = json.dumps(scrub(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def git_info(root: str | Path) -> dict[str, Any]:
    """Commit of ``root`` and whether tracked files differ from it (results/ and untracked files ignored)."""
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "branch": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def torch_info() -> dict[str, Any]:
    """torch build and the accelerator it sees (what changes floating-point results)."""
    try:
        import torch
    except ImportError:
        return {"available": False}
    info: dict[str, Any] = {
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if info["cuda_available"]:
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def checkpoint_checksums(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Merge the models stage's sha256 JSON files (``{"file": ..., "sha256": ...}`` or ``{name: sha256}``)."""
    out: dict[str, Any] = {}
    for path in paths:
        data = read_json(path)
        if not isinstance(data, dict):
            raise InputError(path, "checksum file is not a JSON object", "rerun the models rule that writes it")
        if "sha256" in data:
            name = str(data.get("name") or data.get("file") or Path(path).stem)
            out[name] = data["sha256"]
        else:
            out.update({str(k): v for k, v in data.items()})
    return out


def experiment_seeds(config: Mapping[str, Any]) -> dict[str, int]:
    run_seed = int(config.get("seed", 0))
    return {name: int(exp.get("seed", run_seed)) for name, exp in (config.get("experiments") or {}).items()}


def build_manifest(
    config: Mapping[str, Any],
    workflow_root: str | Path,
    checksum_files: Iterable[str | Path] = (),
    environ: Mapping[str, str] | None = None,
) -> dict:
    """The run manifest, scrubbed of secrets.

    Keys: ``run``, ``config_sha256`` (sha256 of the canonical JSON of the config's shared sections, every section
    but ``experiments``), ``experiments_sha256`` (the same of each experiment's settings), ``git`` (commit, dirty, branch),
    ``python``, ``platform``, ``torch``, ``packages``, ``seeds`` (run seed and per-experiment seeds),
    ``checkpoints`` (name -> sha256), ``n_images`` (``data.max_images`` or ``"all"``), ``precision`` (the
    generation precision mode, :mod:`instdiff.generation.precision`), ``config`` (the config).
    """
    manifest = {
        "run": config.get("run"),
        "git": git_info(workflow_root),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch_info(),
        "packages": package_versions(),
        "checkpoints": checkpoint_checksums(checksum_files),
        **config_entries(config),
    }
    return scrub(manifest, environ)


def config_entries(config: Mapping[str, Any]) -> dict:
    """The keys of a manifest that come from its config (the rest describe the machine and the code)."""
    data = config.get("data") or {}
    return {
        # Split: a run manifest lists every experiment, an experiment's manifest (the one its metric files embed) its
        # own, and a table compares the shared hash of the files it reads (instdiff.report.tables).
        "config_sha256": config_hash({k: v for k, v in config.items() if k != "experiments"}),
        "experiments_sha256": {name: config_hash(exp) for name, exp in (config.get("experiments") or {}).items()},
        "seeds": {"run": config.get("seed"), "experiments": experiment_seeds(config)},
        "n_images": data.get("max_images") or "all",
        "data_source": data.get("source"),
        "models_source": (config.get("models") or {}).get("source"),
        "precision": (config.get("generation") or {}).get("precision"),
        "config": dict(config),
    }


def write_experiment_manifest(path: str | Path, run_manifest: str | Path, config: Mapping[str, Any],
                              environ: Mapping[str, str] | None = None) -> dict:
    """One experiment's manifest: the run manifest's machine, code and checkpoints, with ``config`` (the shared
    sections and that experiment's settings) in place of the run's. Cheap (no torch import): one per experiment."""
    manifest = scrub({**read_json(run_manifest), **config_entries(config)}, environ)
    assert_no_secrets(manifest, environ)
    write_json(path, manifest)
    return manifest


def write_manifest(path: str | Path, config: Mapping[str, Any], workflow_root: str | Path,
                   checksum_files: Iterable[str | Path] = (), environ: Mapping[str, str] | None = None) -> dict:
    """Build, check for secrets once more, and write atomically. Returns the manifest."""
    manifest = build_manifest(config, workflow_root, checksum_files, environ)
    assert_no_secrets(manifest, environ)
    write_json(path, manifest)
    log.info("manifest %s: config %s, commit %s", path, manifest["config_sha256"][:12], manifest["git"]["commit"])
    return manifest


def manifest_summary(manifest: Mapping[str, Any] | None) -> str:
    """One line for table footers: config hash, commit, N, seeds, precision, checkpoints, key package versions."""
    if not manifest:
        return "manifest: not embedded in the metric files"
    git = manifest.get("git") or {}
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    seeds = (manifest.get("seeds") or {}).get("run")
    ckpts = ", ".join(f"{k} {str(v)[:12]}" for k, v in sorted((manifest.get("checkpoints") or {}).items())) or "none recorded"
    pk = manifest.get("packages") or {}
    versions = ", ".join(f"{k} {pk[k]}" for k in ("torch", "ultralytics", "pycocotools", "torchmetrics") if pk.get(k))
    return (f"run {manifest.get('run')}; config sha256 {str(manifest.get('config_sha256'))[:12]}; git {commit}; "
            f"N images {manifest.get('n_images')}; run seed {seeds}; precision {manifest.get('precision')}; "
            f"checkpoints sha256: {ckpts}; {versions}")
