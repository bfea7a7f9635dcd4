"""Speed of the metric stage on synthetic data of COCO val size.

5,000 images of 512 x 512 with about 7 GT instances each (random polygons, so masks and boxes are realistic
RLEs) and 100 detections per image (jittered copies of the GT plus random false positives, random scores).
Times: COCO eval (bbox and segm) with pycocotools and with faster-coco-eval (load + evaluate + accumulate +
summarize), and PiM (paper variant, point and scribble). Prints absolute times, the speed-up ratio, and
whether both COCO backends agree. Target: PiM over 5,000 images in under 60 s on 2 cores.

    OMP_NUM_THREADS=2 python benchmarks/bench_metrics.py [--images 5000] [--dets 100]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from instdiff.metrics.coco_ap import coco_eval
from instdiff.metrics.cocofiles import load_gt, load_results
from instdiff.metrics.pim import pim_paper

SIZE = 512


def random_polygon(rng, cx, cy, rx, ry, n=12):
    """A star-shaped polygon around (cx, cy): radius jittered per vertex."""
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(0.6, 1.0, n)
    xs = np.clip(cx + rx * r * np.cos(t), 0, SIZE - 1)
    ys = np.clip(cy + ry * r * np.sin(t), 0, SIZE - 1)
    return np.stack([xs, ys], 1).ravel().tolist()


def rle_of(polygon):
    rle = mask_utils.frPyObjects([polygon], SIZE, SIZE)[0]
    return rle


def make_data(n_images: int, n_dets: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    ann_id = 1
    for img_id in range(1, n_images + 1):
        images.append({"id": img_id, "width": SIZE, "height": SIZE, "file_name": f"{img_id}.png"})
        shapes = []
        for _ in range(rng.poisson(7)):
            cx, cy = rng.uniform(40, SIZE - 40, 2)
            rx, ry = rng.uniform(8, 120, 2)
            cat = int(rng.integers(1, 4))
            poly = random_polygon(rng, cx, cy, rx, ry)
            rle = rle_of(poly)
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            anns.append({"id": ann_id, "image_id": img_id, "category_id": cat, "segmentation": [poly],
                         "bbox": bbox, "area": float(mask_utils.area(rle)), "iscrowd": 0})
            shapes.append((cx, cy, rx, ry, cat))
            ann_id += 1
        for k in range(n_dets):
            if k < 2 * len(shapes):  # two jittered copies per GT, sometimes with the wrong class
                cx, cy, rx, ry, cat = shapes[k % len(shapes)]
                cx, cy = cx + rng.normal(0, 4), cy + rng.normal(0, 4)
                rx, ry = rx * rng.uniform(0.8, 1.2), ry * rng.uniform(0.8, 1.2)
                cat = cat if rng.random() > 0.1 else int(rng.integers(1, 4))
            else:  # false positives anywhere
                cx, cy = rng.uniform(20, SIZE - 20, 2)
                rx, ry = rng.uniform(5, 80, 2)
                cat = int(rng.integers(1, 4))
            rle = rle_of(random_polygon(rng, cx, cy, rx, ry))
            dets.append({"image_id": img_id, "category_id": cat, "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                         "score": float(rng.random()),
                         "segmentation": {"size": [SIZE, SIZE], "counts": rle["counts"].decode("ascii")}})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "bicycle"}, {"id": 3, "name": "car"}]}
    return gt, dets


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--dets", type=int, default=100)
    args = parser.parse_args()

    (gt_data, det_data), t_make = timed(lambda: make_data(args.images, args.dets))
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, det_path = Path(tmp) / "gt.json", Path(tmp) / "dets.json"
        gt_path.write_text(json.dumps(gt_data))
        det_path.write_text(json.dumps(det_data))
        print(f"data: {args.images} images, {len(gt_data['annotations'])} GT, {len(det_data)} detections "
              f"(made in {t_make:.1f} s)")
        gt, t_load_gt = timed(lambda: load_gt(gt_path))
        dets, t_load = timed(lambda: load_results(det_path, gt, need_masks=True))
        print(f"load: annotations {t_load_gt:.1f} s, detections {t_load:.1f} s")
        for iou_type in ("bbox", "segm"):
            ref, t_ref = timed(lambda: coco_eval(gt, dets, iou_type, backend="pycocotools"))
            fast, t_fast = timed(lambda: coco_eval(gt, dets, iou_type, backend="faster-coco-eval"))
            diff = max(abs(ref["stats"][k] - fast["stats"][k]) for k in ref["stats"])
            print(f"COCO {iou_type}: pycocotools {t_ref:.1f} s, faster-coco-eval {t_fast:.1f} s, "
                  f"ratio {t_ref / t_fast:.1f}x; AP {ref['ap']:.6f} vs {fast['ap']:.6f}, max |stats diff| {diff:.2e}")
        for mode in ("point", "scribble"):
            r, t = timed(lambda: pim_paper(gt, dets, mode, seed=2024))
            print(f"PiM {mode} (paper): {t:.1f} s for {r['n_images_total']} images "
                  f"({1000 * t / max(1, r['n_images_total']):.2f} ms/image), PiM {r['pim']:.4f}, pairs {r['n_pairs']}"
                  f" -> target < 60 s: {'met' if t < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
