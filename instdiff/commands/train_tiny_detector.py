"""``instdiff train-tiny-detector``: train the smoke run's tiny YOLOv8n / YOLOv8n-seg on the synthetic set (CPU)."""

from __future__ import annotations

import contextlib
import sys


def register(subparsers) -> None:
    from instdiff.detection.yolo_train import DEFAULTS

    p = subparsers.add_parser(
        "train-tiny-detector", help="train the tiny smoke detectors with ultralytics' trainer and record their SHA256",
        description="Retrain the smoke run's tiny YOLOv8n (boxes) and YOLOv8n-seg (masks) on the synthetic COCO-style "
                    "set, on the CPU, with ultralytics' own trainer, and record each file's SHA256. Only needed to "
                    "refresh the shipped detectors (instdiff/assets/yolo). Prints one JSON object.")
    p.add_argument("--out", help="output folder (default: the package's instdiff/assets/yolo, the shipped files)")
    p.add_argument("--task", choices=["detect", "segment", "both"], default="both")
    for key, value in DEFAULTS.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=int, default=value, help=f"default {value}")
    p.set_defaults(func=run)


def _ultralytics_logs_to_stderr() -> None:
    """ultralytics logs to stdout; the command's stdout is its one JSON object."""
    import logging

    from instdiff.detection.ultralytics_env import setup

    setup()
    from ultralytics.utils import LOGGER

    for handler in LOGGER.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.detection.yolo_train import DEFAULTS, train_tiny_detectors

    _ultralytics_logs_to_stderr()

    tasks = {"detect": ("",), "segment": ("-seg",), "both": ("-seg", "")}[args.task]
    settings = {key: getattr(args, key) for key in DEFAULTS}
    with contextlib.redirect_stdout(sys.stderr):  # ultralytics' progress bars write to stdout too
        record = train_tiny_detectors(args.out, tasks=tasks, **settings)
    print_json(record)
    return 0
