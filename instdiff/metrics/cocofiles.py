"""Loading and checking the COCO files every metric reads: the ground-truth annotation file, a results
(detections) file, and an experiment's list of images.

pycocotools prints progress on stdout; commands print exactly one JSON object there, so every call into it
goes through :func:`quiet`, which sends the chatter to the log instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from instdiff.core.errors import InputError
from instdiff.core.io import read_json

log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Capture pycocotools' prints and forward them to the log at DEBUG level."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    text = buf.getvalue().strip()
    if text:
        log.debug("%s", text)


# --------------------------------------------------------------------------------------------- ground truth


COCO_FILE_FIX = "pass a COCO instances file (images, annotations, categories), e.g. data/annotations_512.json"
# What scoring needs of each entry; the data stage asks for more (file names, boxes, masks, category names).
SCORING_KEYS = {"images": ("id", "width", "height"), "annotations": ("id", "image_id", "category_id"),
                "categories": ("id",)}


def check_coco_dataset(data: Any, path: str | Path, fix: str = COCO_FILE_FIX,
                       required: dict[str, tuple[str, ...]] = SCORING_KEYS, known_images_only: bool = True) -> None:
    """The one COCO instances-file check: raise one InputError naming the first thing that makes ``data`` not a
    COCO instances file, or an entry that lacks a key of ``required`` (per list). A ``bbox`` must be 4 numbers.
    ``known_images_only``: every annotation must refer to a listed image (scoring; the data stage reads files whose
    images are a subset of their annotations' and keeps only the listed ones)."""
    if not isinstance(data, dict):
        raise InputError(path, f"not a COCO instances file: expected a JSON object, got {type(data).__name__}", fix)
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise InputError(path, f"not a COCO instances file: {key!r} is missing or not a list", fix, key)
    for section in ("images", "annotations", "categories"):
        for i, entry in enumerate(data[section]):
            for key in required.get(section, ()):
                if not isinstance(entry, dict) or key not in entry:
                    raise InputError(path, f"{section[:-1]} entry has no {key!r}", fix, f"{section}[{i}].{key}")
    _check_values(data, path, fix)
    image_ids = {img["id"] for img in data["images"]}
    for i, ann in enumerate(data["annotations"]):
        if known_images_only and ann["image_id"] not in image_ids:
            raise InputError(path, f"annotation {ann['id']} refers to unknown image {ann['image_id']!r}", fix,
                             f"annotations[{i}].image_id")


def _check_values(data: dict, path: str | Path, fix: str) -> None:
    """The values scoring reads: integer ids, positive finite image sizes, finite non-negative boxes, valid RLE.

    A list as an id ends in a ``TypeError`` inside pycocotools' index, a width ``"512"`` in one while scaling
    boxes, and a NaN box or garbage RLE counts move AP silently (pycocotools decodes whatever it is given).
    """
    from instdiff.core import records

    sizes = {}
    for i, img in enumerate(data["images"]):
        where = f"images[{i}]"
        if not isinstance(img, dict):
            raise InputError(path, "an image entry is an object", fix, where)
        records.identifier(img.get("id"), path, f"{where}.id", fix)
        for key in ("width", "height"):
            if key in img and records.number(img[key], path, f"{where}.{key}", fix) <= 0:
                raise InputError(path, f"{key} {img[key]!r} is not a positive size", fix, f"{where}.{key}")
        sizes[img["id"]] = (img.get("height"), img.get("width"))
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise InputError(path, "an annotation entry is an object", fix, where)
        for key in ("id", "image_id", "category_id"):
            if key in ann:
                records.identifier(ann[key], path, f"{where}.{key}", fix)
        if "bbox" in ann:
            if not (isinstance(ann["bbox"], list) and len(ann["bbox"]) == 4):
                raise InputError(path, f"bbox must be [x, y, w, h], got {ann['bbox']!r}"[:200], fix, f"{where}.bbox")
            box = records.numbers(ann["bbox"], 4, path, f"{where}.bbox", fix)
            if box[2] < 0 or box[3] < 0:
                raise InputError(path, f"bbox {ann['bbox']} has a negative width or height", fix, f"{where}.bbox")
        segm = ann.get("segmentation")
        height, width = sizes.get(ann.get("image_id"), (None, None))
        if isinstance(segm, dict) and height is not None and width is not None:
            records.rle_mask(segm, path, f"{where}.segmentation", height, width, fix)
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict):
            raise InputError(path, "a category entry is an object", fix, f"categories[{i}]")
        if "id" in cat:
            records.identifier(cat["id"], path, f"categories[{i}].id", fix)


def load_gt(path: str | Path):
    """The annotation file as a pycocotools ``COCO`` object, after :func:`check_coco_dataset`."""
    from pycocotools.coco import COCO

    data = read_json(path)
    check_coco_dataset(data, path)
    coco = COCO()
    coco.dataset = data
    with quiet():
        coco.createIndex()
    coco.source = str(path)  # so later errors can name the file
    return coco


def image_order(gt) -> list[int]:
    """Image ids in the annotation file's order (what ``COCO.getImgIds()`` returns)."""
    return list(gt.imgs.keys())


# --------------------------------------------------------------------------------------------- results


def load_results(path: str | Path, gt, need_masks: bool = False) -> list[dict]:
    """A COCO results file (list of detections), checked against the ground truth.

    Every ``image_id`` must be an image of ``gt``; with ``need_masks`` every entry needs a ``segmentation``.
    """
    data = read_json(path)
    return check_results(data, path, gt, need_masks)


def check_results(data: Any, path: str | Path, gt, need_masks: bool = False) -> list[dict]:
    from instdiff.core import records

    fix = "write detections with `instdiff.detection.detect` (COCO results format: a list of dicts)"
    if not isinstance(data, list):
        raise InputError(path, f"a COCO results file is a JSON list, got {type(data).__name__}", fix)
    for i, det in enumerate(data):
        keys = ("image_id", "category_id", "score") + (("segmentation",) if need_masks else ("bbox",))
        for key in keys:
            if not isinstance(det, dict) or key not in det:
                extra = "; mask metrics need the segmentation detector's output" if key == "segmentation" else ""
                raise InputError(path, f"detection {i} has no {key!r}{extra}", fix, f"[{i}].{key}")
    for i, det in enumerate(data):  # an unhashable id (a list) would end in a TypeError below
        records.identifier(det["image_id"], path, f"[{i}].image_id", fix)
    known = set(gt.imgs)
    unknown = sorted({det["image_id"] for det in data} - known, key=str)
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise InputError(
            path,
            f"{len(unknown)} image id(s) not in the annotation file {getattr(gt, 'source', '')}: {shown}",
            "detect the experiment's own images (ids are the file stems) and score them against the matching annotations",
            "image_id",
        )
    known_cats = _known_categories(gt)
    for i, det in enumerate(data):
        check_detection(det, i, path, gt, need_masks, known_cats)
    return data


def _known_categories(gt) -> set:
    from instdiff.data.synthetic import coco_categories

    return set(gt.cats) | {c["id"] for c in coco_categories()}


def check_detection(det: dict, i: int, path: str | Path, gt, need_masks: bool, known_cats: set) -> None:
    """One detection's values: a known category, a score in [0, 1], a box inside its image (or a mask of its size).

    NaN, negative or huge boxes, NaN scores and unknown categories would move AP silently; 3-number boxes, text
    scores, garbage RLE and wrong-size masks would end in a pycocotools traceback.
    """
    from instdiff.core import records

    fix = "write detections with `instdiff.detection.detect` (COCO results: bbox [x, y, w, h] pixels, score in [0, 1])"
    if isinstance(det["image_id"], bool):  # True == 1 would find image 1
        raise InputError(path, f"image_id {det['image_id']!r} is not an id", fix, f"[{i}].image_id")
    img = gt.imgs[det["image_id"]]
    # A COCO detector reports all 80 classes; COCOeval ignores those the annotation file lacks. Anything else is
    # a wrong label space.
    records.member(det["category_id"], known_cats, path, f"[{i}].category_id",
                   "use COCO category ids (1-90, the detector's label space) or those of the annotation file")
    records.number(det["score"], path, f"[{i}].score", fix, lo=0.0, hi=1.0)
    if need_masks:
        segm = det["segmentation"]
        if isinstance(segm, list):
            records.polygons(segm, path, f"[{i}].segmentation", fix)
        else:
            records.rle_mask(segm, path, f"[{i}].segmentation", img["height"], img["width"], fix)
    else:
        records.xywh_box(det["bbox"], path, f"[{i}].bbox", img["width"], img["height"], fix)


def results_by_image(results: Iterable[dict]) -> dict[Any, list[dict]]:
    """Detections grouped by image id, each group in file order (what ``loadRes`` + ``getAnnIds`` give)."""
    groups: dict[Any, list[dict]] = {}
    for det in results:
        groups.setdefault(det["image_id"], []).append(det)
    return groups


# --------------------------------------------------------------------------------------------- masks


def to_rle(segm: Any, height: int, width: int, where: str, path: str | Path | None) -> dict:
    """Any COCO segmentation (polygons, uncompressed or compressed RLE) -> compressed RLE at height x width."""
    from pycocotools import mask as mask_utils

    if isinstance(segm, list):
        if not segm:  # no polygon at all: an empty mask
            return mask_utils.encode(np.asfortranarray(np.zeros((height, width), np.uint8)))
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
    elif isinstance(segm, dict) and "counts" in segm and "size" in segm:
        if list(segm["size"]) != [height, width]:
            raise InputError(path, f"mask size {segm['size']} differs from the image size {[height, width]}",
                             "write masks at image resolution (retina masks)", where)
        rle = mask_utils.frPyObjects(segm, height, width) if isinstance(segm["counts"], list) else segm
    else:
        raise InputError(path, f"unreadable segmentation {str(segm)[:60]!r}", "use polygons or RLE", where)
    return rle


# --------------------------------------------------------------------------------------------- experiment images


def read_done(path: str | Path) -> list[dict]:
    """The experiment's finished images: ``{"experiment", "images": [{"id", "file"}], "n"}`` -> the image list."""
    data = read_json(path)
    fix = "re-run the rule that writes images/{experiment}/done.json"
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(path, "expected an object with an 'images' list", fix, "images")
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or "file" not in img:
            raise InputError(path, "image entry needs 'id' and 'file'", fix, f"images[{i}]")
    if "n" in data and data["n"] != len(data["images"]):
        raise InputError(path, f"'n' is {data['n']} but {len(data['images'])} images are listed", fix, "n")
    return data["images"]


def as_image_id(value: Any) -> Any:
    """Layout / file ids are strings; COCO image ids are ints. '139' -> 139, anything else unchanged."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def evaluated_ids(done_path: str | Path | None, gt) -> list:
    """The image ids to score: the experiment's images (``done.json``), all of which must be in ``gt``.

    ``None`` means every image of the annotation file (the original scripts' behaviour).
    """
    if done_path is None:
        ids = image_order(gt)
        if not ids:
            raise InputError(getattr(gt, "source", None), "the annotation file lists no images",
                             "score against an annotation file with images (AP of nothing is undefined)", "images")
        return ids
    ids = [as_image_id(img["id"]) for img in read_done(done_path)]
    if not ids:
        raise InputError(done_path, "the experiment lists no images", "generate the experiment's images first, "
                         "then score them (AP of nothing is undefined)", "images")
    unknown = [i for i in ids if i not in gt.imgs]
    if unknown:
        raise InputError(done_path, f"{len(unknown)} image id(s) not in the annotation file: {unknown[:5]}",
                         "generate the experiment from the same annotation file", "images")
    return ids
