"""The YOLOv8 detectors: the release weights (download + SHA256) or tiny random ones in the same ``.pt`` format.

Both are loaded by :func:`load` through the same ``ultralytics.YOLO(path)`` call.
"""

from __future__ import annotations

import logging
from pathlib import Path

from instdiff import checkpoints
from instdiff.errors import InputError
from instdiff.io import atomic_path

log = logging.getLogger(__name__)

ASSETS_RELEASE = "v8.4.0"  # the ultralytics assets release ultralytics 8.4.190 downloads from
ASSETS_URL = "https://github.com/ultralytics/assets/releases/download/{release}/{name}.pt"
KNOWN = ("yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x")
# The tiny smoke model: the smallest architecture of the same family and task.
TINY_ARCH = {"": "yolov8n.yaml", "-seg": "yolov8n-seg.yaml"}
# Initial classification bias of the tiny model: ultralytics initialises it to about -9 (class probability
# ~1e-4, below the validator's conf 0.001, so a random model finds nothing); -4 (probability ~0.02) gives the
# smoke run detections to score downstream.
TINY_CLS_BIAS = -4.0


def _split(name: str) -> tuple[str, str]:
    base, _, task = name.partition("-")
    if base not in KNOWN or task not in ("", "seg"):
        raise InputError(None, f"unknown detector {name!r}", f"use one of {KNOWN} with optional '-seg'", "models.detector_*")
    return base, ("-" + task) if task else ""


def download(name: str, path: str | Path, expected_sha256: str | None = None, release: str = ASSETS_RELEASE) -> dict:
    """Download ``{name}.pt`` from the ultralytics assets release to ``path``; record its SHA256 beside it."""
    from instdiff.ultralytics_env import setup

    _split(name)
    url = ASSETS_URL.format(release=release, name=name)
    checkpoints.require_pin(expected_sha256, name, url)
    setup()
    from ultralytics.utils.downloads import safe_download

    with atomic_path(path) as tmp:
        tmp.unlink()  # safe_download skips a file that already exists
        safe_download(url=url, file=tmp, retry=3, min_bytes=1e5, progress=False, unzip=False)
        checkpoints.verify(tmp, expected_sha256)
    return checkpoints.record(path, source=url, model=name, kind="release")


def build_tiny(name: str, path: str | Path, seed: int = 0) -> dict:
    """A random YOLOv8n(-seg) built from its yaml (same task and class list as ``name``), saved as ``.pt``."""
    import torch

    from instdiff.ultralytics_env import setup

    _, task = _split(name)
    setup()
    from ultralytics import YOLO

    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model = YOLO(TINY_ARCH[task])
    from instdiff.synthetic import coco_categories

    # The released files carry the 80 COCO class names (a yaml-built model has '0'..'79').
    model.model.names = {i: c["name"] for i, c in enumerate(coco_categories())}
    head = model.model.model[-1]
    with torch.no_grad():
        for branch in head.cv3:  # the per-scale classification convs
            branch[-1].bias.fill_(TINY_CLS_BIAS)
    with atomic_path(path) as tmp:
        model.save(tmp)
    return checkpoints.record(path, model=name, arch=TINY_ARCH[task], kind="tiny", seed=seed)


def load(path: str | Path):
    """``ultralytics.YOLO(path)`` after the offline setup; InputError if the file is missing."""
    from instdiff.ultralytics_env import setup

    path = Path(path)
    if not path.exists():
        raise InputError(path, "detector weights are missing", "run the rule that downloads or builds the detector")
    setup()
    import ultralytics.nn.tasks
    from ultralytics import YOLO

    if not ultralytics.nn.tasks.SAFE_LOAD:
        raise RuntimeError("ultralytics was imported before instdiff.ultralytics_env.setup(), so its safe loading "
                           "(ULTRALYTICS_SAFE_LOAD) is off; import it only through setup()")
    try:
        return YOLO(str(path))
    except TypeError as exc:  # ultralytics' message for unreadable files and for types outside its allow-list
        raise InputError(path, f"not a loadable Ultralytics checkpoint ({str(exc).strip()[:300]})",
                         "use the official weights (their SHA256 is pinned in models.sha256) or rebuild the tiny "
                         "model") from None
