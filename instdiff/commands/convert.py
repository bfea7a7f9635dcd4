"""``instdiff convert``: the original InstanceDiffusion checkpoint -> the diffusers-style model folder.

Reads the released ``instancediffusion_sd15.pth`` (or the smoke's tiny checkpoint, same container) without running
pickle code, checks it (SHA256 when given, ``config_dict`` architecture, schedule buffers, every tensor name and
shape), prefers ``ema`` over ``model`` as the original does, and writes the folder atomically. Prints the conversion
record as one JSON object.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help="convert the original checkpoint to a diffusers-style model folder",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="instancediffusion_sd15.pth (or the tiny smoke checkpoint)")
    p.add_argument("--tokenizer", required=True, help="CLIP tokenizer folder (openai/clip-vit-large-patch14 files)")
    p.add_argument("--out", required=True, help="output model folder (replaced whole, only on success)")
    p.add_argument("--size", default="sd15", choices=["sd15", "tiny"], help="model size: the release or the smoke's")
    p.add_argument("--sha256", default=None, help="expected SHA256 of the checkpoint (a mismatch is a damaged file)")
    p.set_defaults(func=run)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.core.logging_setup import setup
    from instdiff.model.convert import conversion_record, convert_named

    setup()
    out = convert_named(args.checkpoint, args.tokenizer, args.out, args.size, expected_sha256=args.sha256)
    record = conversion_record(out)
    record.pop("config", None)  # the sizes are in the folder; the record says what was converted and how
    print_json({"checkpoint": args.checkpoint, "tokenizer": args.tokenizer, "out": str(out), **record})
    return 0
