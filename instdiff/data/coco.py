"""COCO val2017 -> the 512x512 annotation file and the paper's layouts.

Three steps, each a function a rule calls:

- :func:`derive_annotations_512`: the official instances file with every image squashed to 512x512, so nobody depends
  on the authors' Google-Drive file. :func:`compare_annotations` reports how a supplied customised file differs.
- :func:`build_layouts`: one :class:`instdiff.core.layout.Layout` per image, following ``eval_local.py`` exactly
  (original-instancediffusion.md §4.3; parity fixture 4).

The protocol of :func:`build_layouts`:

1. image ids sorted ascending (optionally the first ``max_images``);
2. every annotation of the image in file order, crowd included; the first 30 become instances;
3. box = ``[x/W, y/H, (x+w)/W, (y+h)/H]``; point = box centre; 20-point scribble, 256-point polygon and the 512x512
   mask from the instance mask (``instdiff.data.location_inputs``);
4. phrase = category name, prefixed with ``colors[ann_id % 8]`` when the experiment asks for colours and then with
   ``textures[ann_id % 8]`` for textures (so "fluffy white person" with both);
5. global prompt = ``", ".join(all phrases)`` (every annotation, duplicates kept, not truncated to 30); with
   ``use_captions`` the first caption of the image in file order is prepended with NO separator;
6. random draws: a numpy Generator seeded with ``derive_seed(seed, experiment, image_id, "conditioning")``, so an
   image's inputs do not depend on the shard or on other images. ``rng_mode="legacy"`` instead seeds numpy's and
   Python's global RNGs once and draws in the original's order (images ascending, all annotations in file order):
   it reproduces the original's numbers but depends on which images are processed; used for parity only.

Quirk switch ``single_annotation_seg`` (config ``data.quirks``): ``faithful`` (default) feeds the real mask as seg
input everywhere; ``original`` copies ``eval_local.py``'s bug for images with exactly one annotation, whose seg input
is the mask's first row broadcast to all rows. The choice is written to every layout's ``meta``.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from instdiff.core.masks import encode_mask
from instdiff.data import location_inputs
from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_json
from instdiff.core.layout import Instance, Layout, coco_xywh_px_to_norm_xyxy, write_layouts
from instdiff.metrics.cocofiles import check_coco_dataset
from instdiff.core.original_constants import COLORS, MAX_OBJS, TEXTURES
from instdiff.core.seeding import derive_seed

log = logging.getLogger(__name__)

CANVAS = 512
SEG_QUIRK_MODES = ("faithful", "original")
RNG_MODES = ("seeded", "legacy")

# --------------------------------------------------------------------------------------------- reading and checks


def _load(source: str | Path | Mapping, what: str) -> tuple[dict, str]:
    if isinstance(source, Mapping):
        return dict(source), f"<{what}>"
    return read_json(source), str(source)


INSTANCES_FIX = "pass an official COCO instances file (annotations/instances_val2017.json) or one derived from it"
INSTANCES_KEYS = {"images": ("id", "width", "height", "file_name"),
                  "annotations": ("id", "image_id", "category_id", "bbox", "segmentation"),
                  "categories": ("id", "name")}


def load_instances(source: str | Path | Mapping) -> tuple[dict, str]:
    """Read and check a COCO instances file; an InputError names the file and the first bad field."""
    data, name = _load(source, "instances")
    check_coco_dataset(data, name, INSTANCES_FIX, INSTANCES_KEYS, known_images_only=False)
    return data, name


def load_captions(source: str | Path | Mapping) -> dict[int, str]:
    """Image id -> its FIRST caption in file order (what ``coco_caption.getAnnIds`` returns first)."""
    data, name = _load(source, "captions")
    fix = "pass the official annotations/captions_val2017.json"
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise InputError(name, "not a COCO captions file: 'annotations' is missing or not a list", fix, "annotations")
    first: dict[int, str] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "caption" not in ann:
            raise InputError(name, "caption entry lacks 'image_id' or 'caption'", fix, f"annotations[{i}]")
        first.setdefault(int(ann["image_id"]), str(ann["caption"]))
    return first


def ann_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """COCO segmentation (polygons, uncompressed or compressed RLE) -> (height, width) uint8 mask (``annToMask``)."""
    if isinstance(segmentation, list):
        if not segmentation:
            return np.zeros((height, width), dtype=np.uint8)
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        counts = segmentation["counts"]
        rle = {"size": segmentation["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(rle).astype(np.uint8)


def _resize_nearest(mask: np.ndarray, size: int = CANVAS) -> np.ndarray:
    if mask.shape == (size, size):
        return mask
    from PIL import Image

    return np.array(Image.fromarray(mask).resize((size, size), resample=Image.Resampling.NEAREST))


# --------------------------------------------------------------------------------------------- 512x512 derivation


def _scale_segmentation(seg: Any, sx: float, sy: float, height: int, width: int) -> Any:
    """Polygons: coordinates scaled. RLE: decoded, resized nearest to 512x512, re-encoded (compressed, str counts)."""
    if isinstance(seg, list):
        return [[v * (sx if j % 2 == 0 else sy) for j, v in enumerate(poly)] for poly in seg]
    return encode_mask(_resize_nearest(ann_to_mask(seg, height, width)))


def derive_annotations_512(instances_json: str | Path | Mapping, out: str | Path, size: int = CANVAS) -> dict:
    """Write the instances file with every image squashed to ``size x size``; returns a small summary.

    Per image ``sx = size / width``, ``sy = size / height``. Boxes ``[x*sx, y*sy, w*sx, h*sy]``; polygon coordinates
    scaled the same way; RLE masks (crowd regions) decoded, resized with nearest neighbour and re-encoded as
    compressed RLE; ``area *= sx*sy``; ``width = height = size``. Everything else is copied unchanged, in order.
    Deterministic: the same input gives a byte-identical output.
    """
    data, name = load_instances(instances_json)
    sizes = {img["id"]: (int(img["height"]), int(img["width"])) for img in data["images"]}
    anns = []
    for i, ann in enumerate(tqdm(data["annotations"], desc="annotations 512", mininterval=5)):
        if ann["image_id"] not in sizes:
            raise InputError(name, f"annotation {ann['id']} refers to unknown image {ann['image_id']}",
                             "use an unmodified COCO instances file", f"annotations[{i}].image_id")
        h, w = sizes[ann["image_id"]]
        sx, sy = size / w, size / h
        x, y, bw, bh = (float(v) for v in ann["bbox"])
        new = dict(ann)
        new["bbox"] = [x * sx, y * sy, bw * sx, bh * sy]
        new["segmentation"] = _scale_segmentation(ann["segmentation"], sx, sy, h, w)
        if "area" in ann:
            new["area"] = float(ann["area"]) * sx * sy
        anns.append(new)
    images = [{**img, "width": size, "height": size} for img in data["images"]]
    info = dict(data.get("info") or {})
    info["instdiff_derivation"] = (
        f"every image squashed to {size}x{size}: boxes, polygons and areas scaled per axis, RLE masks resized "
        "nearest-neighbour and re-encoded; derived by instdiff.data.coco.derive_annotations_512"
    )
    result = {k: v for k, v in data.items() if k not in ("images", "annotations", "info")}
    result = {"info": info, **result, "images": images, "annotations": anns}
    write_json(out, result, indent=None)
    return {"source": name, "n_images": len(images), "n_annotations": len(anns), "size": size}


def _summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=np.float64)
    return {"n": int(a.size), "min": float(a.min()), "mean": float(a.mean()), "max": float(a.max())}


def compare_annotations(
    ours: str | Path | Mapping,
    supplied: str | Path | Mapping,
    bbox_tol_px: float = 1.0,
    mask_iou_min: float = 0.9,
    max_listed: int = 50,
) -> dict:
    """Differences between our derived 512x512 file and a supplied one (e.g. the authors' customised file).

    Reports image ids present in only one file, image sizes that differ, annotation ids present in only one file,
    and for shared annotations: category / iscrowd mismatches, the largest absolute bbox difference in pixels, the
    relative area difference and the mask IoU at 512x512 (both decoded with :func:`ann_to_mask`). Annotations whose
    bbox differs by more than ``bbox_tol_px`` or whose mask IoU is below ``mask_iou_min`` are counted and listed
    (first ``max_listed`` ids). Neither file is preferred: the report only describes; the pipeline uses ours.
    """
    a, a_name = load_instances(ours)
    b, b_name = load_instances(supplied)
    a_imgs = {img["id"]: img for img in a["images"]}
    b_imgs = {img["id"]: img for img in b["images"]}
    a_anns = {ann["id"]: ann for ann in a["annotations"]}
    b_anns = {ann["id"]: ann for ann in b["annotations"]}
    diffs = _AnnotationDiffs()
    for ann_id in tqdm(sorted(set(a_anns) & set(b_anns)), desc="compare annotations", mininterval=5):
        diffs.add(ann_id, a_anns[ann_id], b_anns[ann_id], a_imgs, b_imgs, bbox_tol_px, mask_iou_min)
    images = _image_section(a_imgs, b_imgs, max_listed)
    annotations = _annotation_section(a_anns, b_anns, diffs, max_listed)
    structure_differs = any(section[key] for section, key in (
        (images, "n_only_ours"), (images, "n_only_supplied"), (images, "n_size_differs"),
        (annotations, "n_only_ours"), (annotations, "n_only_supplied"),
        (annotations, "n_category_differs"), (annotations, "n_iscrowd_differs"),
    ))
    return {
        "ours": a_name,
        "supplied": b_name,
        "used": "ours",
        "within_tolerance": not structure_differs and not diffs.bbox_bad and not diffs.mask_bad,
        "tolerances": {"bbox_px": bbox_tol_px, "mask_iou_min": mask_iou_min},
        "images": images,
        "annotations": annotations,
    }


@dataclass
class _AnnotationDiffs:
    """How the annotations both files hold differ: ids of each kind of mismatch and the per-annotation measures."""

    category: list = field(default_factory=list)
    iscrowd: list = field(default_factory=list)
    bbox_bad: list = field(default_factory=list)
    mask_bad: list = field(default_factory=list)
    bbox_d: list = field(default_factory=list)
    area_d: list = field(default_factory=list)
    ious: list = field(default_factory=list)

    def add(self, ann_id: int, x: dict, y: dict, a_imgs: dict, b_imgs: dict, bbox_tol_px: float,
            mask_iou_min: float) -> None:
        """Compare annotation ``ann_id`` of ours (``x``) with the supplied one (``y``)."""
        if x["category_id"] != y["category_id"]:
            self.category.append(ann_id)
        if int(x.get("iscrowd", 0)) != int(y.get("iscrowd", 0)):
            self.iscrowd.append(ann_id)
        d = float(np.max(np.abs(np.asarray(x["bbox"], float) - np.asarray(y["bbox"], float))))
        self.bbox_d.append(d)
        if d > bbox_tol_px:
            self.bbox_bad.append(ann_id)
        if "area" in x and "area" in y:
            self.area_d.append(abs(float(x["area"]) - float(y["area"])) / max(abs(float(y["area"])), 1e-9))
        ia, ib = a_imgs.get(x["image_id"]), b_imgs.get(y["image_id"])
        if ia is None or ib is None:
            return
        iou = _mask_iou_512(x, ia, y, ib)
        self.ious.append(iou)
        if iou < mask_iou_min:
            self.mask_bad.append(ann_id)


def _mask_iou_512(x: dict, ia: dict, y: dict, ib: dict) -> float:
    """IoU of two annotations' masks, each decoded at its image's size and resized to 512x512 (1 when both empty)."""
    ma = _resize_nearest(ann_to_mask(x["segmentation"], int(ia["height"]), int(ia["width"])))
    mb = _resize_nearest(ann_to_mask(y["segmentation"], int(ib["height"]), int(ib["width"])))
    union = np.logical_or(ma, mb).sum()
    return float(np.logical_and(ma, mb).sum() / union) if union else 1.0


def _image_section(a_imgs: dict, b_imgs: dict, max_listed: int) -> dict:
    """The report's ``images`` block: ids in one file only and shared images whose size differs."""
    shared = sorted(set(a_imgs) & set(b_imgs))
    size_diff = [i for i in shared
                 if (a_imgs[i]["width"], a_imgs[i]["height"]) != (b_imgs[i]["width"], b_imgs[i]["height"])]
    only_a, only_b = sorted(set(a_imgs) - set(b_imgs)), sorted(set(b_imgs) - set(a_imgs))
    return {
        "n_ours": len(a_imgs), "n_supplied": len(b_imgs), "n_shared": len(shared),
        "only_ours": only_a[:max_listed], "n_only_ours": len(only_a),
        "only_supplied": only_b[:max_listed], "n_only_supplied": len(only_b),
        "size_differs": size_diff[:max_listed], "n_size_differs": len(size_diff),
    }


def _annotation_section(a_anns: dict, b_anns: dict, diffs: _AnnotationDiffs, max_listed: int) -> dict:
    """The report's ``annotations`` block: ids in one file only, then the shared annotations' differences."""
    only_a, only_b = sorted(set(a_anns) - set(b_anns)), sorted(set(b_anns) - set(a_anns))
    return {
        "n_ours": len(a_anns), "n_supplied": len(b_anns), "n_shared": len(set(a_anns) & set(b_anns)),
        "only_ours": only_a[:max_listed], "n_only_ours": len(only_a),
        "only_supplied": only_b[:max_listed], "n_only_supplied": len(only_b),
        "category_differs": diffs.category[:max_listed], "n_category_differs": len(diffs.category),
        "iscrowd_differs": diffs.iscrowd[:max_listed], "n_iscrowd_differs": len(diffs.iscrowd),
        "bbox_max_abs_diff_px": _summary(diffs.bbox_d),
        "bbox_beyond_tolerance": diffs.bbox_bad[:max_listed], "n_bbox_beyond_tolerance": len(diffs.bbox_bad),
        "area_rel_diff": _summary(diffs.area_d),
        "mask_iou": _summary(diffs.ious),
        "mask_iou_below_min": diffs.mask_bad[:max_listed], "n_mask_iou_below_min": len(diffs.mask_bad),
    }


def annotations_512(instances_json: str | Path, out: str | Path, supplied: str | Path | None = None,
                    report: str | Path | None = None) -> dict:
    """Rule entry: derive ours; when a customised file is supplied, write the comparison report beside it."""
    summary = derive_annotations_512(instances_json, out)
    if supplied:
        if report is None:
            raise ValueError("a report path is needed when a supplied 512x512 file is compared")
        rep = compare_annotations(out, supplied)
        write_json(report, rep)
        if not rep["within_tolerance"]:
            log.warning("supplied 512x512 annotations %s differ from ours beyond tolerance; see %s (ours are used)",
                        supplied, report)
        summary["report"] = str(report)
    return summary


# --------------------------------------------------------------------------------------------- layouts


def phrase_for(name: str, ann_id: int, attributes: Iterable[str]) -> str:
    """Instance phrase: category name, colour prefix, then texture prefix (``eval_local.py`` order)."""
    attributes = set(attributes)
    unknown = attributes - {"colors", "textures"}
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}; use 'colors' and/or 'textures'")
    phrase = name
    if "colors" in attributes:
        phrase = COLORS[ann_id % len(COLORS)] + " " + phrase
    if "textures" in attributes:
        phrase = TEXTURES[ann_id % len(TEXTURES)] + " " + phrase
    return phrase


def global_prompt(phrases: list[str], caption: str | None) -> str:
    """``make_a_sentence`` of ALL phrases, with the caption (if any) prepended with no separator."""
    listed = ", ".join(phrases)
    return listed if caption is None else caption + listed


def _index(data: dict) -> tuple[dict, dict, dict]:
    images = {img["id"]: img for img in data["images"]}
    cats = {cat["id"]: cat["name"] for cat in data["categories"]}
    by_image: dict[Any, list] = {img_id: [] for img_id in images}
    for ann in data["annotations"]:  # file order, crowd included (getAnnIds(iscrowd=None))
        by_image.setdefault(ann["image_id"], []).append(ann)
    return images, cats, by_image


def _layout_for_image(img: dict, anns: list, cats: dict, caption: str | None, attributes: list[str],
                      rng: Any, first_row_quirk: bool, meta: dict, name: str) -> Layout:
    h, w = int(img["height"]), int(img["width"])
    phrases, instances = [], []
    for j, ann in enumerate(anns):
        if ann["category_id"] not in cats:
            raise InputError(name, f"annotation {ann['id']} has unknown category_id {ann['category_id']}",
                             "use the categories of the COCO file", "annotations.category_id")
        phrase = phrase_for(cats[ann["category_id"]], int(ann["id"]), attributes)
        phrases.append(phrase)
        # The original samples inputs for every annotation (so the legacy RNG order includes those beyond 30);
        # the seeded path draws only for the kept ones.
        if j >= MAX_OBJS and rng is not location_inputs.LEGACY_GLOBAL:
            continue
        mask = _resize_nearest(ann_to_mask(ann["segmentation"], h, w))
        scribble, polygon = location_inputs.instance_conditioning(mask, CANVAS, CANVAS, rng)
        if j >= MAX_OBJS:
            continue
        box = coco_xywh_px_to_norm_xyxy(ann["bbox"], w, h)
        instances.append(Instance(
            phrase=phrase, box=box, category=cats[ann["category_id"]], category_id=int(ann["category_id"]),
            ann_id=int(ann["id"]), iscrowd=bool(ann.get("iscrowd", 0)), point=location_inputs.point_from_box(box),
            scribble=scribble, polygon=polygon, mask=encode_mask(mask),
        ))
    quirk_here = first_row_quirk and len(anns) == 1
    return Layout(
        id=str(img["id"]), caption=global_prompt(phrases, caption), instances=instances, width=CANVAS,
        height=CANVAS, image_id=int(img["id"]), file_name=img["file_name"],
        meta={**meta, "n_annotations": len(anns), "seg_first_row_quirk": quirk_here},
    )


def build_layouts(
    instances_512: str | Path | Mapping,
    captions: str | Path | Mapping | None,
    settings: Mapping[str, Any],
    run_seed: int,
    experiment: str,
    quirks: Mapping[str, Any] | None = None,
    max_images: int | None = None,
    rng_mode: str = "seeded",
    legacy_seeds: tuple[int, int] | None = None,
) -> list[Layout]:
    """The paper protocol's layouts for one experiment (see the module docstring for every rule).

    ``settings``: the experiment's config entry (``use_captions``, ``attributes``). ``quirks``: config
    ``data.quirks``. ``rng_mode="legacy"`` needs ``legacy_seeds=(numpy_seed, python_seed)``; it seeds numpy's
    legacy global RNG and Python's ``random`` once before the first image (the parity fixtures' procedure).
    """
    data, name = load_instances(instances_512)
    quirk_mode = (quirks or {}).get("single_annotation_seg", "faithful")
    if quirk_mode not in SEG_QUIRK_MODES:
        raise ValueError(f"data.quirks.single_annotation_seg must be one of {SEG_QUIRK_MODES}, got {quirk_mode!r}")
    if rng_mode not in RNG_MODES:
        raise ValueError(f"rng_mode must be one of {RNG_MODES}, got {rng_mode!r}")
    use_captions = bool(settings.get("use_captions", False))
    attributes = list(settings.get("attributes", []))
    if use_captions and captions is None:
        raise ValueError("use_captions needs a captions file")
    first_caption = load_captions(captions) if use_captions else {}
    images, cats, by_image = _index(data)
    ids = sorted(images)
    if max_images is not None:
        ids = ids[: int(max_images)]
    meta = {
        "protocol": "eval_local", "experiment": experiment, "use_captions": use_captions, "attributes": attributes,
        "single_annotation_seg": quirk_mode, "rng": rng_mode, "source": name,
    }
    if rng_mode == "legacy":
        if legacy_seeds is None:
            raise ValueError("rng_mode='legacy' needs legacy_seeds=(numpy_seed, python_seed)")
        np.random.seed(int(legacy_seeds[0]))
        random.seed(int(legacy_seeds[1]))
        meta["legacy_seeds"] = [int(legacy_seeds[0]), int(legacy_seeds[1])]
    layouts = []
    for img_id in tqdm(ids, desc=f"layouts {experiment}", mininterval=5):
        caption = None
        if use_captions:
            if img_id not in first_caption:
                raise InputError(captions if not isinstance(captions, Mapping) else "<captions>",
                                 f"image {img_id} has no caption", "use the captions file of the same COCO split")
            caption = first_caption[img_id]
        if rng_mode == "legacy":
            rng, seed_meta = location_inputs.LEGACY_GLOBAL, {}
        else:
            seed = derive_seed(run_seed, experiment, img_id, "conditioning")
            rng, seed_meta = np.random.default_rng(seed), {"conditioning_seed": seed}
        layouts.append(_layout_for_image(images[img_id], by_image[img_id], cats, caption, attributes, rng,
                                         quirk_mode == "original", {**meta, **seed_meta}, name))
    return layouts


def write_experiment_layouts(instances_512: str | Path, captions: str | Path | None, out: str | Path,
                             settings: Mapping[str, Any], run_seed: int, experiment: str,
                             quirks: Mapping[str, Any] | None = None, max_images: int | None = None) -> int:
    """Rule entry: build and write ``layouts/{experiment}.jsonl`` atomically; returns the number of layouts."""
    layouts = build_layouts(instances_512, captions, settings, run_seed, experiment, quirks, max_images)
    write_layouts(out, layouts)
    log.info("wrote %d layouts for %s to %s", len(layouts), experiment, out)
    return len(layouts)
