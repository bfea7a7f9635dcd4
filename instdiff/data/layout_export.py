"""The layouts of an experiment in forms other codebases read (``instdiff layouts``; schemas in docs/layouts.md).

- ``jsonl``: our own layouts file (``results/{run}/layouts/{experiment}.jsonl``), rewritten at the current
  ``format_version``.
- ``gligen``: one JSON line per layout in GLIGEN's inference input (``gligen_inference.py``'s ``meta``): ``prompt``,
  ``phrases`` and ``locations``, the boxes as normalised ``[x0, y0, x1, y1]`` (origin top-left), one per phrase,
  plus the ``id`` and ``file_name`` the image must be saved under. diffusers' ``StableDiffusionGLIGENPipeline`` takes
  the same lists as ``gligen_phrases`` and ``gligen_boxes``.
- ``coco``: a COCO instances file (``images``, ``annotations``, ``categories``), as pycocotools loads it: one image
  per layout (``file_name`` = the file the image must be saved under), one annotation per instance with its pixel
  ``bbox`` ``[x, y, w, h]`` on the layout's canvas, ``area``, ``iscrowd`` and, where the layout has it, the mask as a
  compressed RLE ``segmentation``; the global prompt as the image's ``caption`` and each instance's ``phrase``.

Every form names each image ``<layout id>.png``: the file name an external experiment must hand back
(instdiff/data/external.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from instdiff.core.errors import InputError
from instdiff.core.layout import Layout, LAYOUT_FORMAT_VERSION, norm_xyxy_to_coco_xywh_px

FORMATS = ("jsonl", "gligen", "coco")
IMAGE_SUFFIX = ".png"


def image_name(layout: Layout) -> str:
    """The file an outside generator saves this layout's image as (what an external experiment reads back)."""
    return f"{layout.id}{IMAGE_SUFFIX}"


def gligen_records(layouts: Sequence[Layout]) -> list[dict[str, Any]]:
    """GLIGEN's ``meta`` per layout: ``prompt``, ``phrases`` and normalised xyxy ``locations``."""
    return [{"id": lay.id, "file_name": image_name(lay), "prompt": lay.caption,
             "phrases": [inst.phrase for inst in lay.instances],
             "locations": [[float(v) for v in inst.box] for inst in lay.instances],
             "width": lay.width, "height": lay.height} for lay in layouts]


def coco_dataset(layouts: Sequence[Layout], source: str | Path | None = None) -> dict[str, Any]:
    """A COCO instances dict of ``layouts`` (see the module docstring).

    Image ids are the layouts' COCO image ids (``image_id``) when every layout has one, else 1..N in file order.
    Category ids are the layouts' (COCO's 91-space ids on the COCO protocol); an instance without one (an LLM
    layout) gets an id per distinct category name, after the largest given id. Annotation ids are the layouts'
    ``ann_id`` when every instance has a distinct one, else 1..M.
    """
    from instdiff.data.synthetic import coco_categories

    from pycocotools import mask as mask_utils

    own_ids = all(lay.image_id is not None for lay in layouts)
    images = []
    for k, lay in enumerate(layouts, 1):
        images.append({"id": int(lay.image_id) if own_ids else k, "width": lay.width, "height": lay.height,
                       "file_name": image_name(lay), "layout_id": lay.id, "caption": lay.caption})
    instances = [(img, inst) for img, lay in zip(images, layouts) for inst in lay.instances]
    known = {c["id"]: c for c in coco_categories()}
    names: dict[int, str] = {}
    for _, inst in instances:
        if inst.category_id is not None:
            names.setdefault(int(inst.category_id), inst.category or known.get(int(inst.category_id), {}).get("name")
                             or str(inst.category_id))
    next_id = max(names, default=0) + 1
    by_name = {name: cid for cid, name in names.items()}
    ann_ids = [inst.ann_id for _, inst in instances]
    own_ann_ids = all(a is not None for a in ann_ids) and len(set(ann_ids)) == len(ann_ids)
    annotations = []
    for k, (img, inst) in enumerate(instances, 1):
        if inst.category_id is not None:
            cid = int(inst.category_id)
        else:
            name = inst.category or inst.phrase
            if name not in by_name:
                by_name[name], names[next_id] = next_id, name
                next_id += 1
            cid = by_name[name]
        bbox = [float(v) for v in norm_xyxy_to_coco_xywh_px(inst.box, img["width"], img["height"])]
        ann = {"id": int(inst.ann_id) if own_ann_ids else k, "image_id": img["id"], "category_id": cid,
               "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": int(inst.iscrowd), "phrase": inst.phrase}
        if inst.mask is not None:
            if list(inst.mask.get("size", [])) != [img["height"], img["width"]]:
                raise InputError(source, f"layout {img['layout_id']} has a mask of size {inst.mask.get('size')}, "
                                 f"its canvas {img['height']}x{img['width']}", "rebuild the layouts (rule layouts)",
                                 "instances[].mask")
            ann["segmentation"] = {"size": list(inst.mask["size"]), "counts": inst.mask["counts"]}
            ann["area"] = float(mask_utils.area({"size": list(inst.mask["size"]),
                                                 "counts": inst.mask["counts"].encode("ascii")}))
        annotations.append(ann)
    categories = [{"id": cid, "name": name, "supercategory": known.get(cid, {}).get("supercategory", name)}
                  for cid, name in sorted(names.items())]
    return {"info": {"description": "instdiff layouts", "layouts_format_version": LAYOUT_FORMAT_VERSION},
            "images": images, "annotations": annotations, "categories": categories}


def export_layouts(layouts_path: str | Path, fmt: str, out: str | Path) -> dict[str, Any]:
    """Write the layouts file ``layouts_path`` as ``fmt`` to ``out`` (atomically); returns a summary."""
    from instdiff.core.io import write_json, write_jsonl
    from instdiff.core.layout import read_layouts, write_layouts

    if fmt not in FORMATS:
        raise InputError(None, f"unknown layouts format {fmt!r}", f"use one of {', '.join(FORMATS)}", "--format")
    layouts = read_layouts(layouts_path)
    if fmt == "jsonl":
        write_layouts(out, layouts)
    elif fmt == "gligen":
        write_jsonl(out, gligen_records(layouts))
    else:
        write_json(out, coco_dataset(layouts, layouts_path), indent=None)
    return {"layouts": str(layouts_path), "format": fmt, "out": str(out), "n_layouts": len(layouts),
            "n_instances": sum(len(lay.instances) for lay in layouts)}
