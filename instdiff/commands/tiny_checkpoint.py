"""``instdiff tiny-checkpoint``: the smoke's tiny random InstanceDiffusion in the release's container, plus the CLIP
tokenizer folder (built offline). Prints one JSON object with the file, its SHA256 and its sections."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tiny-checkpoint", help="write the smoke's tiny checkpoint in the release's container",
        description="Write the smoke run's tiny random InstanceDiffusion checkpoint, in the same container and key "
                    "layout as the released instancediffusion_sd15.pth, and the CLIP tokenizer folder (built "
                    "offline). Prints one JSON object with the file, its SHA256 and its sections.")
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. instancediffusion_tiny.pth)")
    p.add_argument("--tokenizer", required=True, help="folder for the CLIP tokenizer files")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    p.set_defaults(func=run)


def run(args) -> int:
    from instdiff.core.checkpoints import sha256
    from instdiff.cli import print_json
    from instdiff.core.logging_setup import setup
    from instdiff.model.release_container import load_container
    from instdiff.model.tiny import write_tiny_checkpoint

    setup()
    path = write_tiny_checkpoint(args.out, args.tokenizer, seed=args.seed)
    sections = sorted(load_container(path))
    print_json({"checkpoint": str(path), "tokenizer": args.tokenizer, "seed": args.seed, "sha256": sha256(path),
                "bytes": path.stat().st_size, "sections": sections, "size": "tiny"})
    return 0
