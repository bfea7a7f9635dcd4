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
    "preflight",
    "pin",
    "lock_envs",
    "coco_eval",
    "pim",
    "generate",
    "grounding_iou",
    "rate",
    "convert",
    "tiny_checkpoint",
    "train_tiny_detector",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instdiff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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
