"""Inputs for the report tests: small real inputs (COCO files, images, layouts) and metric files made from them by the
real metric writers, never hand-written dicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MANIFEST = {"run": "smoke", "config_sha256": "c0ffee" * 10, "git": {"commit": "ab" * 20, "dirty": False},
            "n_images": "all", "seeds": {"run": 2024}, "checkpoints": {"yolov8m": "12" * 32},
            "packages": {"torch": "2.13.0", "pycocotools": "2.0.11"}}

# Four 64x64 images with one or two "person" squares each; the detections hit some exactly, some partly and miss
# one, so AP, PiM and the per-image values differ between images (bootstrap intervals have width).
SIZE = 64
GT_SQUARES = {1: [(4, 28, 4, 28)], 2: [(8, 40, 10, 50), (44, 60, 2, 20)], 3: [(20, 50, 20, 50)], 4: [(0, 16, 30, 60)]}
DET_SQUARES = {1: [(4, 28, 4, 28)], 2: [(8, 40, 10, 40)], 3: [(24, 50, 20, 46), (0, 8, 0, 8)], 4: [(0, 16, 30, 40)]}


def _square(r0, r1, c0, c1):
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[r0:r1, c0:c1] = 1
    return m


def real_inputs(root: Path, manifest: dict | None = None) -> dict:
    """The small real inputs every metric writer reads: COCO annotations, a COCO results file, images (their
    done.json), layouts with points, scribbles and colour phrases (ann ids of the GT), the run manifest."""
    from instdiff.core.layout import Instance, Layout, write_layouts
    from tests.unit.metrics_data import dets, gt_file

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    gt = gt_file(root / "annotations.json", {i: [_square(*q) for q in sq] for i, sq in GT_SQUARES.items()},
                 size=(SIZE, SIZE))
    results = [d for i, sq in DET_SQUARES.items() for d in dets(i, [_square(*q) for q in sq])]
    (root / "detections.json").write_text(json.dumps(results))
    done = write_images(root / "images", "exp", list(GT_SQUARES), size=SIZE)
    colours = ["red", "blue", "green", "black", "white"]
    layouts, ann_id = [], 1
    for i, squares in GT_SQUARES.items():
        insts = []
        for r0, r1, c0, c1 in squares:
            box = (c0 / SIZE, r0 / SIZE, c1 / SIZE, r1 / SIZE)
            cx, cy = (c0 + c1) / 2 / SIZE, (r0 + r1) / 2 / SIZE
            insts.append(Instance(f"{colours[ann_id % 5]} person", box, category="person", category_id=1,
                                  ann_id=ann_id, point=(cx, cy),
                                  scribble=[(box[0] + 0.01, cy), (cx, cy), (box[2] + 0.05, cy)]))
            ann_id += 1
        layouts.append(Layout(id=str(i), caption=f"scene {i}", image_id=i, width=SIZE, height=SIZE, instances=insts))
    write_layouts(root / "layouts.jsonl", layouts)
    (root / "manifest.json").write_text(json.dumps(manifest or MANIFEST))
    return {"annotations": gt, "detections": root / "detections.json", "done": done,
            "layouts": root / "layouts.jsonl", "manifest": root / "manifest.json", "root": root}


def tiny_encoder(root: Path):
    """The real open_clip loading path on the tiny random CLIP the smoke builds."""
    from instdiff.metrics import clip_models

    path = Path(root) / "tiny-clip.pt"
    if not path.is_file():
        clip_models.build_tiny(path)
    return clip_models.encoder(path, "cpu")


def write_coco(metrics: Path, inputs: dict, experiment: str, iou_type: str = "bbox", resamples: int = 200,
               metric: str | None = None) -> Path:
    from instdiff.metrics.files import coco_file

    out = Path(metrics) / experiment / f"{metric or 'coco_' + iou_type}.json"
    coco_file(inputs["annotations"], inputs["detections"], inputs["done"], inputs["manifest"], out, iou_type,
              experiment, bootstrap_resamples=resamples, metric=metric)
    return out


def write_pim(metrics: Path, inputs: dict, experiment: str, mode: str, variant: str) -> Path:
    from instdiff.metrics.files import pim_file

    out = Path(metrics) / experiment / f"pim_{mode}_{variant}.json"
    pim_file(inputs["annotations"], inputs["detections"], inputs["done"], inputs["layouts"], inputs["manifest"], out,
             mode, variant, experiment, run_seed=2024)
    return out


def write_attribute(metrics: Path, inputs: dict, experiment: str, variant: str, encoder) -> Path:
    from instdiff.metrics.files import attribute_file

    out = Path(metrics) / experiment / f"attribute_{variant}.json"
    attribute_file(inputs["annotations"], inputs["layouts"], inputs["done"], "tiny-clip", inputs["manifest"], out,
                   "colors", experiment, variant=variant, detections=inputs["detections"], encoder=encoder)
    return out


def write_fid(metrics: Path, inputs: dict, experiment: str) -> Path:
    """fid.json from torch-fidelity's InceptionV3 with random weights (64-d features, 64 px: cheap, real path)."""
    from instdiff.metrics import fid as F

    root = inputs["root"]
    weights = root / "inception.pth"
    if not weights.is_file():
        F.write_random_inception(weights, root / "inception.sha256.json", seed=0)
        real = write_images(root / "real_images", "real", list(range(8)), size=SIZE, seed=5)
        F.reference_statistics(real, weights, root / "ref.npz", feature=64, resolution=SIZE)
    out = Path(metrics) / experiment / "fid.json"
    settings = F.FidSettings(feature=64, resolution=SIZE, kid_subsets=5)
    F.compute_fid(inputs["done"], root / "ref.npz", weights, out, settings, manifest=MANIFEST, experiment=experiment)
    return out


def smoke_metrics(metrics: Path, inputs: dict, encoder=None, fid: bool = False) -> None:
    """Every metric file of the smoke config's experiments, each written by its real writer."""
    for exp in ("box", "mask", "real"):
        write_coco(metrics, inputs, exp, "bbox", resamples=50)
        write_coco(metrics, inputs, exp, "segm", resamples=50)
    for exp, kinds in (("point", ["point"]), ("scribble", ["scribble"]), ("real", ["point", "scribble"])):
        for k in kinds:
            write_pim(metrics, inputs, exp, k, "paper")
            write_pim(metrics, inputs, exp, k, "corrected")
    if encoder is not None:
        for exp in ("colors", "textures"):
            write_attribute(metrics, inputs, exp, "gt", encoder)
            write_attribute(metrics, inputs, exp, "detected", encoder)
    if fid:
        for exp in ("box", "mask", "point", "scribble"):
            write_fid(metrics, inputs, exp)


def _painted(rng, size: int, shift: int = 0):
    """A coloured rectangle on a coloured ground."""
    from PIL import Image

    a = np.zeros((size, size, 3), np.uint8)
    a[...] = rng.integers(0, 255, 3)
    x0, y0 = rng.integers(0, size // 2, 2)
    a[y0:y0 + size // 3, x0:x0 + size // 3] = rng.integers(0, 255, 3)
    return Image.fromarray(np.clip(a.astype(int) + shift, 0, 255).astype(np.uint8))


def write_images(folder: Path, experiment: str, ids, size=512, seed=0, shift=0) -> Path:
    """PNG images of coloured rectangles and the set's done.json ({"experiment", "images": [{"id","file"}], "n"}),
    the part of the images contract every image set has (real sets included)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    recs = []
    for i in ids:
        _painted(rng, size, shift).save(folder / f"{i}.png")
        recs.append({"id": str(i), "file": f"{i}.png"})
    done = folder / "done.json"
    done.write_text(json.dumps({"experiment": experiment, "images": recs, "n": len(recs)}))
    return done


def write_layouts(path: Path, ids) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": str(i), "caption": f"a scene {i}", "width": 512, "height": 512, "image_id": int(i),
             "instances": [{"phrase": "red dog", "box": [0.1, 0.1, 0.5, 0.6], "point": [0.3, 0.35],
                            "scribble": [[0.2, 0.2], [0.3, 0.4]],
                            "polygon": [[0.1, 0.1], [0.5, 0.1], [0.3, 0.6]]}]} for i in ids]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


class _Painter:
    """Stands in for the model only: called as the pipeline is, it paints a rectangle image per layout. What the
    generation stage writes around it (shard manifest, image records, done.json) is the real writers'."""

    device = "cpu"

    def __init__(self, size: int, seed: int):
        self.size, self.rng = size, np.random.default_rng(seed)

    def __call__(self, layout, settings, seed):
        from instdiff.generation.pipeline import PipelineOutput

        return PipelineOutput(images=[_painted(self.rng, self.size)], latents=None, timings={"sample_s": 0.0})


def write_generated(folder: Path, experiment: str, layouts: Path, size=64, seed=0) -> Path:
    """A generated experiment's images through the generation stage's own writers (ShardJob, then finalize), the
    model stood in for by a painter: its done.json is the one the stage writes (shards, throughput, fingerprint)."""
    from instdiff.generation.shard import ShardJob, finalize

    folder = Path(folder)
    settings = {"location": "box", "steps": 2, "guidance_scale": 7.5, "alpha": 1.0, "mis": 0.0, "negative_prompt": ""}
    manifest = folder / "shards" / "0-of-1.json"
    ShardJob(layouts, None, folder, manifest, experiment, 0, 1, 2024, settings).run(_Painter(size, seed))
    finalize(layouts, [manifest], folder, folder / "done.json", experiment)
    return folder / "done.json"
