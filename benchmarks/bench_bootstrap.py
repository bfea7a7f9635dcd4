"""Cost of the COCO image bootstrap (``instdiff.metrics.coco_ap.bootstrap_intervals``) against one evaluation.

Synthetic COCO-style data from ``bench_metrics.make_data`` (random polygons, ~7 GT and ``--dets`` detections per
512 x 512 image), its 3 classes spread over 81 category ids (by image), so pycocotools accumulates about as many
(category, image) cells as on COCO val2017. For each image count: the time of one ``coco_eval`` (evaluate +
accumulate + summarize), the time of ``--resamples`` bootstrap resamples, and from those the projected time of
1,000 resamples (the default, ``report.bootstrap.coco_resamples``) and of the smoke's count, as seconds and as a
ratio to the evaluation itself.

    OMP_NUM_THREADS=2 python benchmarks/bench_bootstrap.py [--images 12,5000] [--resamples 20] [--iou-type bbox]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_metrics import make_data, timed  # noqa: E402

from instdiff.metrics.coco_ap import bootstrap_intervals, coco_eval  # noqa: E402
from instdiff.metrics.cocofiles import load_gt, load_results  # noqa: E402

SPREAD = 27  # 3 classes x 27 = 81 category ids


def spread_categories(gt: dict, dets: list[dict]) -> None:
    """Class c of image i -> id (c - 1) * 27 + i % 27 + 1: GT and detections of an image stay consistent."""
    for rec in (*gt["annotations"], *dets):
        rec["category_id"] = (rec["category_id"] - 1) * SPREAD + int(rec["image_id"]) % SPREAD + 1
    gt["categories"] = [{"id": k, "name": f"c{k}"} for k in range(1, 3 * SPREAD + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="12,5000", help="comma-separated image counts")
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=20, help="resamples timed (the rest is projected)")
    parser.add_argument("--smoke-resamples", type=int, default=200)
    parser.add_argument("--iou-type", default="bbox", choices=["bbox", "segm"])
    args = parser.parse_args()
    for n in (int(v) for v in args.images.split(",")):
        gt_data, det_data = make_data(n, args.dets)
        spread_categories(gt_data, det_data)
        with tempfile.TemporaryDirectory() as tmp:
            gt_path, det_path = Path(tmp) / "gt.json", Path(tmp) / "dets.json"
            gt_path.write_text(json.dumps(gt_data))
            det_path.write_text(json.dumps(det_data))
            gt = load_gt(gt_path)
            dets = load_results(det_path, gt, need_masks=args.iou_type == "segm")
        r, t_eval = timed(lambda: coco_eval(gt, dets, args.iou_type, backend="pycocotools"))
        t = time.perf_counter()
        iv = bootstrap_intervals(r["evaluator"], args.resamples, seed=0)
        per = (time.perf_counter() - t) / args.resamples
        print(f"{n} images, {len(dets)} detections ({args.iou_type}): eval {t_eval:.2f} s; bootstrap "
              f"{1000 * per:.1f} ms/resample -> 1,000 resamples {1000 * per:.1f} s ({1000 * per / t_eval:.1f}x the "
              f"eval), {args.smoke_resamples} resamples {args.smoke_resamples * per:.1f} s "
              f"({args.smoke_resamples * per / t_eval:.1f}x); AP {r['ap']:.4f} "
              f"[{iv['ap']['low']:.4f}, {iv['ap']['high']:.4f}] from {args.resamples} resamples")


if __name__ == "__main__":
    main()
