"""The YOLOv8 detectors: the release weights (download + SHA256) or the tiny smoke ones in the same ``.pt`` format.

The tiny smoke detectors are YOLOv8n / YOLOv8n-seg trained on the synthetic COCO set by ultralytics' trainer
(``instdiff train-tiny-detector``, :mod:`instdiff.detection.yolo_train`) and shipped in ``instdiff/assets/yolo/`` with their
SHA256. Both kinds are loaded by :func:`load` through the same ``ultralytics.YOLO(path)`` call.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from instdiff.core import checkpoints
from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path

log = logging.getLogger(__name__)

ASSETS_RELEASE = "v8.4.0"  # the ultralytics assets release ultralytics 8.4.190 downloads from
ASSETS_URL = "https://github.com/ultralytics/assets/releases/download/{release}/{name}.pt"
KNOWN = ("yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x")
# The shipped tiny detectors (written by instdiff.detection.yolo_train, which this module must not import: the rule that
# copies them would otherwise rerun whenever the training or evaluation code changes).
TINY_FILES = {"": "yolov8n-tiny.pt", "-seg": "yolov8n-seg-tiny.pt"}
TINY_RECORD = "tiny_detectors.json"
TINY_KEYS = {"": "detect", "-seg": "segment"}  # record keys: the ultralytics task names


def assets_dir() -> Path:
    """The folder of the shipped tiny detectors inside the installed package."""
    from importlib import resources

    return Path(str(resources.files("instdiff").joinpath("assets/yolo")))


def _split(name: str) -> tuple[str, str]:
    base, _, task = name.partition("-")
    if base not in KNOWN or task not in ("", "seg"):
        raise InputError(None, f"unknown detector {name!r}", f"use one of {KNOWN} with optional '-seg'", "models.detector_*")
    return base, ("-" + task) if task else ""


def download(name: str, path: str | Path, expected_sha256: str | None = None, release: str = ASSETS_RELEASE) -> dict:
    """Download ``{name}.pt`` from the ultralytics assets release to ``path``; record its SHA256 beside it."""
    from instdiff.detection.ultralytics_env import setup

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


def shipped_tiny(name: str) -> dict:
    """The record of the shipped tiny detector of ``name``'s task (file, arch, sha256, training settings)."""
    _, task = _split(name)
    return json.loads((assets_dir() / TINY_RECORD).read_text())[TINY_KEYS[task]]


def build_tiny(name: str, path: str | Path) -> dict:
    """Copy the shipped tiny detector of ``name``'s task (detect or ``-seg``) to ``path``, checking its SHA256."""
    record_file = assets_dir() / TINY_RECORD
    shipped = shipped_tiny(name)
    src = assets_dir() / shipped["file"]
    if not src.exists():
        raise InputError(src, "the shipped tiny detector is missing",
                         "reinstall instdiff or run `instdiff train-tiny-detector`")
    with atomic_path(path) as tmp:
        shutil.copyfile(src, tmp)
        try:
            checkpoints.verify(tmp, shipped["sha256"])
        except InputError:
            raise InputError(src, f"SHA256 differs from {record_file.name}", "reinstall instdiff or run "
                             "`instdiff train-tiny-detector` to retrain and record it") from None
    return checkpoints.record(path, model=name, arch=shipped["arch"], kind="tiny",
                              source=f"instdiff/assets/yolo/{src.name}", training=shipped["settings"])


def load(path: str | Path):
    """``ultralytics.YOLO(path)`` after the offline setup; InputError if the file is missing."""
    from instdiff.detection.ultralytics_env import setup

    path = Path(path)
    if not path.exists():
        raise InputError(path, "detector weights are missing", "run the rule that downloads or builds the detector")
    setup()
    import ultralytics.nn.tasks
    from ultralytics import YOLO

    if not ultralytics.nn.tasks.SAFE_LOAD:
        raise RuntimeError("ultralytics was imported before instdiff.detection.ultralytics_env.setup(), so its safe loading "
                           "(ULTRALYTICS_SAFE_LOAD) is off; import it only through setup()")
    try:
        return YOLO(str(path))
    except TypeError as exc:  # ultralytics' message for unreadable files and for types outside its allow-list
        raise InputError(path, f"not a loadable Ultralytics checkpoint ({str(exc).strip()[:300]})",
                         "use the official weights (their SHA256 is pinned in models.sha256) or rebuild the tiny "
                         "model") from None
