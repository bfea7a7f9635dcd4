"""``instdiff coco-eval``: COCO AP, AP50 and AR (pycocotools stats[0], [1], [8]) of a results file."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("coco-eval", help="COCO box/mask AP, AP50, AR of a COCO results file")
    p.add_argument("--gt", required=True, help="COCO annotation file (e.g. results/<run>/data/annotations_512.json)")
    p.add_argument("--pred", required=True, help="COCO results JSON (detections)")
    p.add_argument("--iou-type", required=True, choices=["bbox", "segm"])
    p.add_argument("--images", help="done.json of an experiment: score only its images (default: every GT image)")
    p.add_argument("--backend", default="pycocotools", choices=["pycocotools", "faster-coco-eval"])
    p.set_defaults(func=run)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.metrics import cocofiles
    from instdiff.metrics.coco_ap import coco_eval

    gt = cocofiles.load_gt(args.gt)
    ids = cocofiles.evaluated_ids(args.images, gt)
    results = cocofiles.load_results(args.pred, gt, need_masks=args.iou_type == "segm")
    out = coco_eval(gt, results, args.iou_type, ids, backend=args.backend)
    out.pop("evaluator")
    print_json({"gt": args.gt, "pred": args.pred, "iou_type": args.iou_type, "backend": args.backend, **out})
    return 0
