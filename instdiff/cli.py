"""The ``instdiff`` command. Each subcommand lives in ``instdiff/commands/<name>.py`` and exposes
``register(subparsers)``; this module only collects them, so adding a command touches one new file.

``--help`` shows :data:`DESCRIPTION` and :data:`EPILOG` (for users), not this docstring."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from instdiff.core.errors import InputError

DESCRIPTION = """\
instdiff: the evaluation of InstanceDiffusion (Wang et al., CVPR 2024) reproduced end to end.

The whole pipeline runs through Snakemake (`snakemake all --cores 2` for the embedded smoke run,
`snakemake --profile slurm all` for the paper protocol). This command does single steps by hand:
read a run's results, generate images for one layout, score one detections file, rate images."""

EPILOG = """\
examples:
  instdiff summary results/smoke                  the run's headline numbers vs the paper's, with CIs
  instdiff compare results/run_a results/run_b    what changed between two runs
  instdiff generate --layout corgi_kitchen --out out/ --model resources/models/instancediffusion
  instdiff coco-eval --gt annotations.json --pred detections.json --iou-type bbox --all-gt

`instdiff COMMAND --help` describes each command. Bad input is reported on stderr as one line naming
the file, the field and the fix (exit status 2)."""

# Module names under instdiff.commands, in the order they appear in --help.
COMMANDS = [
    "summary",
    "compare",
    "preflight",
    "pin",
    "lock_envs",
    "coco_eval",
    "pim",
    "generate",
    "layouts",
    "grounding_iou",
    "rate",
    "convert",
    "tiny_checkpoint",
    "train_tiny_detector",
]



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instdiff", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"instdiff.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"instdiff.commands.{name}":
                continue  # command not shipped in this build
            raise
        module.register(sub)
    for p in sub.choices.values():
        # Module docstrings mark code the reST way (``x``); a terminal reads `x` better.
        if p.description:
            p.description = p.description.replace("``", "`")
    return parser


def print_json(obj) -> None:
    """Commands print exactly one JSON object on stdout."""
    from instdiff.core.io import _json_default

    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def main(argv: list[str] | None = None) -> int:
    from instdiff.core.checkout import other_checkout_message

    moved = other_checkout_message()
    if moved:
        print(f"instdiff: warning: {moved}", file=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"instdiff {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
