"""``instdiff preflight --configfile FILE``: every prerequisite of a run that is still missing, in one message.

A first paper run needs pins, a filled-in SLURM profile, an API key and disk; found one at a time, each costs a
submission (or a failed download job hours in). This lists them all at once:

- every download that is not pinned (``models.sha256.*``, the hub ``revision``s, ``llm.clip.*``);
- every ``<PLACEHOLDER>`` left in the SLURM profile;
- ``OPENAI_API_KEY`` when ``llm.source: api``;
- the free disk under ``resources_dir`` against the downloads still to fetch (sizes the repository knows);
- the torch CUDA build against the NVIDIA driver, where a GPU is visible.

The workflow runs the same checks: a dry run prints the list as a warning, a real run stops before submitting
anything (rules/common.smk). ``instdiff pin`` fills in the pins, trust on first use (``instdiff.commands.pin``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from instdiff.core.errors import InputError
from instdiff.core.workflow_checks import PLACEHOLDER
from instdiff.data.download import COCO_FILES
from instdiff.data.hub import COMMIT, SHA256, is_hub_id
from instdiff.detection.yolo_models import ASSETS_RELEASE, ASSETS_URL
from instdiff.metrics.fid import INCEPTION_URL
from instdiff.model.release import CHECKPOINT_SIZE, CHECKPOINT_URL

API_KEY_ENV = "OPENAI_API_KEY"  # instdiff.llm.client.API_KEY_ENV (not imported: it pulls numpy into the Snakefile)
DEFAULT_PROFILE = "slurm/config.yaml"
LLM_CLIP_FILE = "open_clip_model.safetensors"  # instdiff.metrics.clip_models.HUB_WEIGHTS_FILE (imports torch)


@dataclass(frozen=True)
class Download:
    """One file or snapshot a run fetches into ``resources_dir``: the config key that pins it (None: pinned in the
    code), the current pin, where it comes from, where it lands and its size when a source states it."""

    what: str
    path: str                     # relative to resources_dir
    source: str                   # URL, or hub repo id for a snapshot
    key: str | None = None        # config key of the pin
    pin: Any = None
    size: int | None = None       # bytes

    @property
    def kind(self) -> str | None:
        if self.key is None:
            return None
        return "sha256" if self.key.split(".")[-1] == "sha256" or self.key.startswith("models.sha256.") else "revision"

    @property
    def pinned(self) -> bool:
        """A 64-hex sha256 or a 40-hex commit (null, "main" or a tag float)."""
        return bool((SHA256 if self.kind == "sha256" else COMMIT).match(str(self.pin or "")))


def merged_config(files: Iterable[str | Path]) -> dict[str, Any]:
    """The configs as Snakemake merges several ``--configfile``s: later files update earlier ones, key by key."""

    def update(base: dict, new: Mapping) -> dict:
        for k, v in new.items():
            base[k] = update(dict(base.get(k) or {}), v) if isinstance(v, Mapping) and isinstance(base.get(k),
                                                                                                   Mapping) else v
        return base

    config: dict[str, Any] = {}
    for file in files:
        try:
            data = yaml.safe_load(Path(file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(file, f"cannot read the config: {exc}", "pass a readable YAML config file") from exc
        update(config, data)
    return config


def downloads(config: Mapping[str, Any]) -> list[Download]:
    """Every download of a run of ``config`` (none for the smoke's synthetic data and tiny models)."""
    found: list[Download] = []
    models = config.get("models") or {}
    if (config.get("data") or {}).get("source") == "coco":
        found += [Download(f"COCO {name}", f"coco/{name}", entry["url"], size=entry["size"])
                  for name, entry in COCO_FILES.items()]
    if models.get("source") == "release":
        sha = models.get("sha256") or {}
        found.append(Download("InstanceDiffusion checkpoint", "models/instancediffusion_sd15.pth", CHECKPOINT_URL,
                              size=CHECKPOINT_SIZE))
        for detector in sorted({models.get("detector_box"), models.get("detector_mask")} - {None}):
            found.append(Download(f"YOLO {detector}", f"models/yolo/{detector}.pt",
                                  ASSETS_URL.format(release=ASSETS_RELEASE, name=detector),
                                  f"models.sha256.{detector}", sha.get(detector)))
        clip = models.get("clip_attribute") or {}
        if clip:
            name = f"{clip['arch']}_{clip['pretrained']}"
            found.append(Download(f"open_clip {name}", f"models/clip/{name}.pt", f"open_clip:{clip['arch']}:"
                                  f"{clip['pretrained']}", f"models.sha256.{name}", sha.get(name)))
        found.append(Download("FID Inception weights", f"models/inception/{INCEPTION_URL.rsplit('/', 1)[1]}",
                              INCEPTION_URL))
    found += hub_downloads(config)
    return found


def hub_downloads(config: Mapping[str, Any]) -> list[Download]:
    """The Hugging Face snapshots (rule hub_snapshot) and the LLM stage's CLIP file, each pinned by a config key."""
    found: list[Download] = []

    def add(repo, revision, key):
        if is_hub_id(repo) and all(d.source != repo for d in found):
            found.append(Download(f"hub snapshot {repo}", f"hub/{repo.replace('/', '--')}", repo, key, revision))

    experiments = config.get("experiments") or {}
    for name, exp in experiments.items():
        refiner = exp.get("refiner") or {}
        add(refiner.get("model"), refiner.get("revision"), f"experiments.{name}.refiner.revision")
    # GLIGEN's release folder (docs/models.md), for a release run with an experiment of model gligen
    gligen = (config.get("models") or {}).get("gligen") or {}
    if (config.get("models") or {}).get("source") != "tiny" and any(
            exp.get("model") == "gligen" for exp in experiments.values()):
        add(gligen.get("repo"), gligen.get("revision"), "models.gligen.revision")
    llm = config.get("llm") or {}
    if llm.get("enabled", True) and llm:
        for name, scorer in ((llm.get("grounding") or {}).get("scorers") or {}).items():
            if not scorer.get("tiny"):
                add(scorer.get("model"), scorer.get("revision"), f"llm.grounding.scorers.{name}.revision")
                add(scorer.get("tokenizer"), scorer.get("tokenizer_revision"),
                    f"llm.grounding.scorers.{name}.tokenizer_revision")
        clip = llm.get("clip") or {}
        if clip and not clip.get("tiny"):
            # open_clip names the hub repo of arch/pretrained (instdiff.metrics.clip_models.hub_source)
            source = f"open_clip:{clip.get('arch')}:{clip.get('pretrained')}"
            path = f"models/llm_clip/{clip.get('arch')}_{clip.get('pretrained')}.safetensors"
            found.append(Download("LLM CLIP hub commit", path, source, "llm.clip.revision", clip.get("revision")))
            found.append(Download(f"LLM CLIP {LLM_CLIP_FILE}", path, source, "llm.clip.sha256", clip.get("sha256")))
    return found


def missing_pins(config: Mapping[str, Any]) -> list[str]:
    """'key: value' of every download whose pin is missing or floats."""
    return [f"{d.key}: {d.pin!r}" for d in downloads(config) if d.key and not d.pinned]


def profile_placeholders(profile: str | Path) -> list[str]:
    """Every ``<PLACEHOLDER>`` value of a profile file, as 'section: rule: name: value' lines."""
    path = Path(profile)
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    found = []

    def walk(value, where):
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, [*where, str(k)])
        elif isinstance(value, list):
            for v in value:
                walk(v, where)
        elif isinstance(value, str) and PLACEHOLDER.search(value):
            found.append(f"{path}: {': '.join(where)}: {value}")

    walk(data, [])
    return found


def grouped_placeholders(lines: Iterable[str]) -> list[str]:
    """One line per distinct placeholder, naming where it stands ('<GPU_PARTITION> in set-resources: generate:
    slurm_partition, ...'): a profile repeats each of them for many rules."""
    where: dict[str, list[str]] = {}
    for line in lines:
        place, value = line.rsplit(": ", 1)
        where.setdefault(value, []).append(place)
    return [f"{value} in {'; '.join(places)}" for value, places in where.items()]


def api_key_gap(config: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> list[str]:
    llm = config.get("llm") or {}
    if llm.get("enabled", True) and llm.get("source") == "api" and not environ.get(API_KEY_ENV):
        return [f"{API_KEY_ENV} is not set, and llm.source is api: export it in the shell that runs snakemake "
                "(never in a config file), or set llm.source: replay"]
    return []


def disk_gap(config: Mapping[str, Any], workdir: str | Path = ".") -> list[str]:
    """Free space under resources_dir against the downloads not there yet; files of unknown size are named."""
    root = Path(workdir) / config.get("resources_dir", "resources")
    todo = [d for d in downloads(config) if not (root / d.path).exists()]
    if not todo:
        return []
    known = sum(d.size for d in todo if d.size)
    unknown = [d.what for d in todo if not d.size]
    probe = root
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free >= known:
        return []
    more = f", plus {len(unknown)} of unknown size ({', '.join(unknown)})" if unknown else ""
    return [f"disk: {_gb(free)} free under {root}, the downloads still to fetch need {_gb(known)}{more}: free "
            "space or set resources_dir to a larger file system"]


def cuda_gap(config: Mapping[str, Any]) -> list[str]:
    """The torch CUDA build against the driver, on a machine where an NVIDIA driver is visible (imports torch)."""
    from instdiff.core.device import nvidia_driver, unavailable_message

    if config.get("device", "cuda") != "cuda" or nvidia_driver() is None:
        return []
    import torch

    if torch.cuda.is_available():
        return []
    return [unavailable_message(torch.__version__, torch.version.cuda, nvidia_driver(), "preflight")]


def gaps(config: Mapping[str, Any], config_name: str, profile: str | Path | None = DEFAULT_PROFILE,
         environ: Mapping[str, str] = os.environ, workdir: str | Path = ".", check_cuda: bool = True,
         placeholders: list[str] | None = None) -> list[str]:
    """Every missing prerequisite, one line each. ``placeholders`` (already found, e.g. from Snakemake's parsed
    profile) replaces reading ``profile``."""
    found = [f"{config_name}: {line} (not pinned)" for line in missing_pins(config)]
    if placeholders is None:
        placeholders = profile_placeholders(profile) if profile else []
    found += [f"profile placeholder {line}" for line in grouped_placeholders(placeholders)]
    found += api_key_gap(config, environ)
    found += disk_gap(config, workdir)
    if check_cuda:
        found += cuda_gap(config)
    return found


def message(found: list[str]) -> str:
    lines = "\n  - ".join(found)
    return (f"preflight: {len(found)} prerequisite(s) missing:\n  - {lines}\n"
            "Fix: pins: run `instdiff pin --configfile <config>` on the login node (it fetches each unpinned "
            "download once and writes its sha256 / revision to a lock file to review; README 'Pins'); "
            "placeholders: edit the profile (README 'Running on SLURM').")


def register(sub) -> None:
    p = sub.add_parser("preflight", help="list every missing prerequisite of a run (pins, profile, API key, disk, "
                                         "CUDA) in one message")
    p.description = "Check, before a run, everything it needs that the repository cannot ship: each download's pin (models.sha256.*, hub revisions), the SLURM profile's placeholders, OPENAI_API_KEY when llm.source is api, free disk under resources_dir, and the torch CUDA build against the driver. Lists every gap in one message; exit 1 when any is left. The workflow runs the same check at its start."
    p.add_argument("--configfile", nargs="+", required=True, help="the run's config file(s), as given to snakemake")
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"the profile file to check for placeholders (default {DEFAULT_PROFILE}; '' for none)")
    p.add_argument("--no-cuda", action="store_true", help="skip the torch CUDA build check")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import sys

    config = merged_config(args.configfile)
    found = gaps(config, ", ".join(args.configfile), args.profile or None, check_cuda=not args.no_cuda)
    if found:
        print(message(found), file=sys.stderr)
        return 1
    print("preflight: nothing missing")
    return 0


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"
