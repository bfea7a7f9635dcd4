"""The ``instdiff`` command. Each subcommand lives in ``instdiff/commands/<name>.py`` and exposes
``register(subparsers)``; this module only collects them, so adding a command touches one new file."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from instdiff.core.errors import InputError

# Module names under instdiff.commands, in the order they appear in --help.
COMMANDS = [
    "summary",
    "compare",
    "coco_eval",
    "pim",
    "generate",
    "grounding_iou",
    "rate",
    "convert",
    "tiny_checkpoint",
    "train_tiny_detector",
]


DESCRIPTION = """\
instdiff reproduces the evaluation of InstanceDiffusion (Wang et al., CVPR 2024) on COCO val2017.

The whole evaluation is a Snakemake workflow (see README.md):
  make smoke                                   a run of tiny models on synthetic data, on a CPU, in minutes
  snakemake --profile slurm all                the paper run on a SLURM cluster

These commands work on single files, outside the workflow:"""

EPILOG = """\
examples:
  instdiff summary results/smoke               ours vs the paper, with CIs and Δ
  instdiff compare results/paper results/paper_seed2
  instdiff generate --layout boxes_picnic --config box --out out/   (shipped demo layouts: see its --help)
  instdiff coco-eval --help                    (every command has its own --help)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instdiff", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"instdiff.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"instdiff.commands.{name}":
                continue  # command not shipped in this build
            raise
        module.register(sub)
    return parser


def print_json(obj) -> None:
    """Commands print exactly one JSON object on stdout."""
    from instdiff.core.io import _json_default

    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"instdiff {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
