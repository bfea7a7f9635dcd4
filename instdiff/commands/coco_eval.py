"""``instdiff coco-eval``: COCO AP, AP50 and AR (pycocotools stats[0], [1], [8]) of a results file."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "coco-eval", help="COCO box/mask AP, AP50, AR of a COCO results file",
        description="Score a COCO results file (detections) against a COCO annotation file with pycocotools: AP, "
                    "AP50 and AR@100 (stats[0], [1], [8]), on the images of an experiment (--images done.json) or on "
                    "every annotated image (--all-gt). Prints one JSON object.")
    p.add_argument("--gt", required=True, help="COCO annotation file (e.g. results/<run>/data/annotations_512.json)")
    p.add_argument("--pred", required=True, help="COCO results JSON (detections)")
    p.add_argument("--iou-type", required=True, choices=["bbox", "segm"])
    images = p.add_mutually_exclusive_group()
    images.add_argument("--images", help="done.json of an experiment: score exactly its images")
    images.add_argument("--all-gt", action="store_true",
                        help="score every image of the annotation file (images without detections count as misses)")
    p.add_argument("--backend", default="pycocotools", choices=["pycocotools", "faster-coco-eval"])
    p.set_defaults(func=run)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.core.errors import InputError
    from instdiff.metrics.coco_ap import coco_eval
    from instdiff.metrics.files import evaluation_inputs

    # Scoring a subset against every GT image silently deflates AP, so the image set is always explicit.
    if not args.images and not args.all_gt:
        raise InputError(None, "no image set given: AP over every GT image is lower than over the images you "
                         "detected when those are a subset",
                         "pass --images results/<run>/images/<experiment>/done.json (the experiment's images) or "
                         "--all-gt (every image of --gt)", "--images")
    gt, ids, results = evaluation_inputs(args.gt, args.pred, args.images or None, need_masks=args.iou_type == "segm")
    out = coco_eval(gt, results, args.iou_type, ids, backend=args.backend)
    out.pop("evaluator")
    print_json({"gt": args.gt, "pred": args.pred, "iou_type": args.iou_type, "backend": args.backend,
                "images": args.images or "all-gt", **out})
    return 0
