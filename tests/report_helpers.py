"""Hand-made inputs for the report tests: metric files, image sets and layouts in the contract's formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MANIFEST = {"run": "smoke", "config_sha256": "c0ffee" * 10, "git": {"commit": "ab" * 20, "dirty": False},
            "n_images": "all", "seeds": {"run": 2024}, "checkpoints": {"yolov8m": "12" * 32},
            "packages": {"torch": "2.13.0", "pycocotools": "2.0.11"}}


def write_metric(root: Path, experiment: str, stem: str, values: dict, per_image=None, n_images=3, **extra) -> Path:
    metric = stem.rsplit("_", 1)[0] if stem.startswith(("pim_", "attribute_")) else stem
    variant = stem.rsplit("_", 1)[1] if stem.startswith(("pim_", "attribute_")) else None
    data = {"metric": metric, "variant": variant, "experiment": experiment, "values": values, "n_images": n_images,
            "per_image": per_image or [], "manifest": MANIFEST, **extra}
    path = Path(root) / experiment / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def smoke_metrics(root: Path) -> None:
    """A full set of metric files for the smoke config's experiments (fractions, as the metric code writes them)."""
    coco = {"ap": 0.25, "ap50": 0.5, "ar": 0.375}
    for exp in ("box", "mask", "real"):
        write_metric(root, exp, "coco_bbox", coco, per_category=[{"id": 1, "name": "person", "ap": 0.5},
                                                                {"id": 3, "name": "car", "ap": 0.25}])
        write_metric(root, exp, "coco_segm", {"ap": 0.125, "ap50": 0.25, "ar": 0.5})
    pim = [{"image_id": i, "pim": v} for i, v in enumerate([1.0, 0.5, 0.0, 0.5])]
    for exp, kinds in (("point", ["point"]), ("scribble", ["scribble"]), ("real", ["point", "scribble"])):
        for k in kinds:
            write_metric(root, exp, f"pim_{k}_paper", {"pim": 0.5}, pim, n_images=4)
            write_metric(root, exp, f"pim_{k}_corrected", {"pim": 0.25}, [{"image_id": 0, "pim": 0.25}, {"image_id": 1, "pim": 0.25}], n_images=2)
    att = [{"image_id": i, "accuracy": a, "clip_local": c} for i, (a, c) in enumerate([(1.0, 0.3), (0.0, 0.2)])]
    for exp in ("colors", "textures"):
        write_metric(root, exp, "attribute_gt", {"accuracy": 0.5, "clip_local": 0.25}, att, n_images=2)
        write_metric(root, exp, "attribute_detected", {"accuracy": 0.25, "clip_local": 0.2}, att, n_images=2)


def write_images(folder: Path, experiment: str, ids, size=512, seed=0, shift=0) -> Path:
    """PNG images of coloured rectangles and the set's done.json ({"experiment", "images": [{"id","file"}], "n"})."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    recs = []
    for i in ids:
        a = np.zeros((size, size, 3), np.uint8)
        a[...] = rng.integers(0, 255, 3)
        x0, y0 = rng.integers(0, size // 2, 2)
        a[y0:y0 + size // 3, x0:x0 + size // 3] = rng.integers(0, 255, 3)
        a = np.clip(a.astype(int) + shift, 0, 255).astype(np.uint8)
        Image.fromarray(a).save(folder / f"{i}.png")
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
