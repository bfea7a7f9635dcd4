"""``instdiff pim``: PiM of a segmentation results file, ``paper`` (eval_pim.py) or ``corrected`` variant."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pim", help="PiM (point / scribble) of a COCO results file with masks",
        description="Points-in-mask of a segmentation results file: the share of the input points (one per "
                    "instance, or 20 scribble points) that fall inside the matched predicted mask. --variant paper "
                    "reproduces eval_pim.py (its random points and matching); --variant corrected uses the layouts' "
                    "own points (--layouts). Prints one JSON object.")
    p.add_argument("--gt", required=True, help="COCO annotation file")
    p.add_argument("--pred", required=True, help="COCO results JSON with segmentation masks")
    p.add_argument("--mode", required=True, choices=["point", "scribble"])
    p.add_argument("--variant", default="paper", choices=["paper", "corrected"])
    p.add_argument("--seed", type=int, help="paper variant: seed numpy's legacy global RNG once (reproducible scribble points)")
    p.add_argument("--layouts", help="corrected variant: the layouts jsonl with the conditioning points")
    p.add_argument("--images", help="done.json of an experiment: score only its images")
    p.add_argument("--per-image", action="store_true", help="include the per-image matches and scores")
    p.set_defaults(func=run)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.core.errors import InputError
    from instdiff.metrics.files import evaluation_inputs, pim_values

    gt, ids, results = evaluation_inputs(args.gt, args.pred, args.images, need_masks=True)
    if args.variant == "corrected" and not args.layouts:
        raise InputError(None, "the corrected variant tests the conditioning points", "pass --layouts FILE", "--layouts")
    out = pim_values(gt, results, ids, args.mode, args.variant, args.seed, args.layouts, args.pred)
    if not args.per_image:
        out.pop("per_image")
    print_json({"gt": args.gt, "pred": args.pred, "mode": args.mode, "variant": args.variant, "seed": args.seed, **out})
    return 0
