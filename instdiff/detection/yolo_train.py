"""Train the smoke run's tiny YOLOv8n / YOLOv8n-seg on the synthetic COCO set, with ultralytics' own trainer.

The smoke run needs a detector that detects, so that its AP, PiM and attribute numbers measure something. The
training set is :func:`instdiff.data.synthetic.write_synthetic_coco` with its own seed (``train2017``), never the
smoke's evaluation images; ultralytics' ``convert_coco`` turns it into YOLO labels (80 classes, polygons), and
``YOLO("yolov8n[-seg].yaml").train(...)`` trains from scratch on CPU with a fixed seed and ``deterministic=True``.
The final checkpoint is the trainer's own (optimizer stripped, fp16 EMA), with the run-specific metadata (date,
git, local paths) replaced by fixed values so the file depends only on the weights and the settings. The files
ship in ``instdiff/assets/yolo/`` with their SHA256 in ``tiny_detectors.json``; ``instdiff.detection.yolo_models`` copies
them into a run and loads them with ``YOLO(path)``, as it loads the release weights.

Regenerate with ``instdiff train-tiny-detector`` (defaults: :data:`DEFAULTS`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from instdiff.core import checkpoints
from instdiff.core.errors import InputError
from instdiff.core.io import write_json
from instdiff.detection.yolo_models import TINY_FILES, TINY_KEYS, TINY_RECORD, assets_dir

log = logging.getLogger(__name__)

# The training recipe of the shipped files. Seed 7 != the smoke's run seed, so training and evaluation images differ.
DEFAULTS = {"seed": 7, "n_train": 160, "n_val": 8, "epochs": 40, "detect_epochs": 3, "imgsz": 256, "batch": 16}
TASKS = {"": "yolov8n.yaml", "-seg": "yolov8n-seg.yaml"}
FILES, RECORD, KEYS = TINY_FILES, TINY_RECORD, TINY_KEYS
FIXED_DATE = "2026-01-01T00:00:00+00:00"  # replaces the training date: the file depends on the weights only
# Trainer settings: from scratch on CPU, no dataloader workers (deterministic order), no plots, no AMP.
TRAIN_ARGS = {"device": "cpu", "workers": 0, "deterministic": True, "amp": False, "plots": False,
              "optimizer": "AdamW", "lr0": 0.003, "warmup_epochs": 1, "close_mosaic": 5, "patience": 0,
              "cache": False, "verbose": False}


def _yolo_dataset(root: Path, seed: int, n_train: int, n_val: int) -> Path:
    """Synthetic train / val sets in ultralytics' layout (images/{split}, labels/{split}); returns the data yaml."""
    from ultralytics.data.converter import convert_coco

    from instdiff.data.synthetic import coco_categories, write_synthetic_coco

    coco = root / "coco"
    for split, n, split_seed in (("train2017", n_train, seed), ("val2017", n_val, seed + 1)):
        write_synthetic_coco(coco, seed=split_seed, n_images=n, split=split)
    only_instances = root / "instances"  # convert_coco reads every json of a folder: captions must stay out
    only_instances.mkdir()
    for split in ("train2017", "val2017"):
        shutil.copy(coco / "annotations" / f"instances_{split}.json", only_instances)
    yolo = root / "yolo"
    convert_coco(str(only_instances), str(yolo), use_segments=True, cls91to80=True)
    for split in ("train2017", "val2017"):
        shutil.copytree(coco / split, yolo / "images" / split)
        (yolo / "labels" / split).mkdir(parents=True, exist_ok=True)  # an image without objects has no label file
    names = {k: c["name"] for k, c in enumerate(coco_categories())}
    data = yolo / "data.yaml"
    data.write_text(json.dumps({"path": str(yolo), "train": "images/train2017", "val": "images/val2017",
                                "names": names}))
    return data


def _relative(args: dict, root: Path) -> dict:
    """Training arguments with paths under the temporary ``root`` made relative to it."""
    prefix = str(root) + os.sep
    return {k: v[len(prefix):] if isinstance(v, str) and v.startswith(prefix) else v for k, v in args.items()}


def _clean_checkpoint(src: Path, dest: Path, root: Path) -> None:
    """The trainer's final checkpoint (optimizer already stripped) with run-specific metadata made fixed: the
    training date, the git state and the temporary paths, so the file depends on the weights and settings only."""
    import torch
    from ultralytics.nn.tasks import torch_safe_load

    ckpt, _ = torch_safe_load(str(src), safe_only=True)  # ultralytics' allow-list loader, as the runs load it
    ckpt["train_args"] = _relative(dict(ckpt.get("train_args") or {}), root)
    for key in ("model", "ema"):
        if ckpt.get(key) is None:
            continue
        if getattr(ckpt[key], "args", None) is not None:
            ckpt[key].args = _relative(dict(ckpt[key].args), root)
        if isinstance(getattr(ckpt[key], "pt_path", None), str):  # set by YOLO.load of the init weights
            ckpt[key].pt_path = _relative({"p": ckpt[key].pt_path}, root)["p"]
    ckpt.update(date=FIXED_DATE, git=None, train_results=None)
    # torch.save names the archive's root folder after the file: save under the final name, then move into place
    staged = src.parent / "final" / dest.name
    staged.parent.mkdir(exist_ok=True)
    torch.save(ckpt, staged)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(staged, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)


def train_one(task: str, data: Path, root: Path, dest: Path, settings: dict, init: Path | None = None) -> dict:
    """Train YOLOv8n (task "") or YOLOv8n-seg (task "-seg"); write the final checkpoint to ``dest``.

    From scratch, or from the matching layers of ``init`` (ultralytics' ``YOLO.load`` transfer): the detector
    starts from the trained segmenter, whose backbone, neck and box / class branches it shares, and is trained
    for ``detect_epochs`` only; that halves the CPU time of the recipe.
    """
    import torch

    from ultralytics import YOLO

    torch.manual_seed(settings["seed"])
    model = YOLO(TASKS[task])
    epochs, pretrained = settings["epochs"], False
    if init is not None:  # from a copy under root, so the recorded arguments hold no local path
        pretrained = root / "init" / init.name
        pretrained.parent.mkdir(exist_ok=True)
        shutil.copyfile(init, pretrained)
        model.load(str(pretrained))
        epochs = settings["detect_epochs"]
    model.train(data=str(data), epochs=epochs, imgsz=settings["imgsz"], batch=settings["batch"],
                seed=settings["seed"], project=str(root / "runs"), name=f"yolov8n{task}", exist_ok=True,
                pretrained=str(pretrained) if pretrained else False, **TRAIN_ARGS)
    best = Path(model.trainer.best)
    _clean_checkpoint(best if best.exists() else Path(model.trainer.last), dest, root)
    return {"file": dest.name, "arch": TASKS[task], "sha256": checkpoints.sha256(dest),
            "val_metrics": {k: round(float(v), 4) for k, v in model.trainer.metrics.items()}}


def train_tiny_detectors(out_dir: str | Path | None = None, tasks: tuple[str, ...] = ("", "-seg"),
                         **overrides) -> dict:
    """Train the tiny detectors into ``out_dir`` (default: the package's assets) and record their SHA256."""
    from instdiff.detection.ultralytics_env import setup

    settings = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    out_dir = Path(out_dir) if out_dir else assets_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    setup()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic=True asks for it on CUDA
    record_path = out_dir / RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    with tempfile.TemporaryDirectory(prefix="instdiff-yolo-train-") as tmp:
        data = _yolo_dataset(Path(tmp), settings["seed"], settings["n_train"], settings["n_val"])
        for task in sorted(tasks, reverse=True):  # "-seg" first: the detector starts from it
            init = out_dir / FILES["-seg"] if task == "" else None
            if init is not None and not init.exists():
                raise InputError(init, "the detector starts from the trained segmenter", "train the segment task first")
            entry = train_one(task, data, Path(tmp), out_dir / FILES[task], settings, init)
            record[KEYS[task]] = {**entry, "settings": settings}
            log.info("tiny detector %s: %s", KEYS[task], entry)
    write_json(record_path, record)
    return record


# The floors the smoke's upper-bound row (experiment `real`) must reach with the shipped detectors.
SMOKE_FLOORS = {"box_ap50": 0.5, "mask_ap50": 0.5, "pim_point_paper": 0.8}


def smoke_upper_bound(work_dir: str | Path, detectors: dict[str, str | Path] | None = None, seed: int = 2024,
                      imgsz: int = 256, n_images: int = 12) -> dict:
    """The smoke's `real` row, computed by the smoke's own functions on its synthetic images (no Snakemake).

    Synthetic val2017 (``seed``: the smoke's run seed) -> 512x512 annotations and squashed images -> detection at
    ``imgsz`` -> ``coco_bbox`` / ``coco_segm`` / ``pim_point`` (paper) files. ``detectors`` maps "box" and "mask" to
    ``.pt`` files (default: the shipped tiny ones). Returns the numbers :data:`SMOKE_FLOORS` names.
    """
    from instdiff.data.coco import derive_annotations_512
    from instdiff.detection.detect import VALIDATOR_SETTINGS, run_detection
    from instdiff.metrics import files
    from instdiff.data.real_images import real_images_512
    from instdiff.data.synthetic import write_synthetic_coco
    from instdiff.detection import yolo_models

    work = Path(work_dir)
    if detectors is None:
        detectors = {"box": work / "yolov8m.pt", "mask": work / "yolov8m-seg.pt"}
        yolo_models.build_tiny("yolov8m", detectors["box"])
        yolo_models.build_tiny("yolov8m-seg", detectors["mask"])
    source = work / "source"
    write_synthetic_coco(source, seed=seed, n_images=n_images)
    a512 = work / "annotations_512.json"
    derive_annotations_512(source / "annotations" / "instances_val2017.json", a512)
    done = work / "images" / "done.json"
    real_images_512(source / "annotations" / "instances_val2017.json", source / "val2017", done.parent)
    settings = {**VALIDATOR_SETTINGS, "imgsz": imgsz}
    dets = {}
    for role, model in detectors.items():
        dets[role] = work / f"detections_{role}.json"
        run_detection(model, done, a512, dets[role], settings=settings, device="cpu")
    box = files.coco_file(a512, dets["box"], done, None, work / "coco_bbox.json", "bbox", "real")
    mask = files.coco_file(a512, dets["mask"], done, None, work / "coco_segm.json", "segm", "real")
    pim = files.pim_file(a512, dets["mask"], done, None, None, work / "pim_point_paper.json", "point", "paper", "real",
                         run_seed=seed)
    return {"box_ap50": box["values"]["ap50"], "box_ap": box["values"]["ap"], "mask_ap50": mask["values"]["ap50"],
            "mask_ap": mask["values"]["ap"], "pim_point_paper": pim["values"]["pim"]}
