"""Attribute binding: is each instance drawn in the colour / texture its phrase asked for?

Definition (``eval/eval_attribute_binding.py``; reference §5.3). For each image (sorted ids) and each of its
first 30 instances with phrase "<attr> <name>" (e.g. "red dog") and normalised box (x0, y0, x1, y1):

- crop = ``PIL.Image.crop((x0*W, y0*H, x1*W, y1*H))`` of the generated image (PIL rounds the corners half to
  even); a crop of zero width or height is skipped (the original's bare ``except`` drops it) and counted;
- f_img = E_img(crop), f_txt = E_txt(text), both L2-normalised;
- CLIP_local = cos(f_img, f_txt(phrase)) (plain cosine: not x100, not clipped);
- correct = 1 if argmax_k cos(f_img, f_txt("a {attr_k} object")) over the 8 colours (or 8 textures) is the
  phrase's first word (ties go to the first label), else 0.

Accuracy and CLIP_local are averaged per image, then over the images that have at least one scored instance.

Variant ``detected``: the crop is the box of the detection matched to the GT instance instead of the GT box.
Only detections with confidence >= ``conf_threshold`` take part (``DETECTION_CONF`` = 0.3, GenEval's threshold: the
detector runs at conf 0.001 for AP, where nearly every GT instance finds some low-confidence box). A detection
matches only a GT instance of its own category; among those, matching is greedy (PiM's rule: for each GT in order
the unmatched detection of highest box IoU, ties to the earlier, i.e. more confident, detection) and a pair needs
IoU >= ``iou_threshold`` (0.5). A GT instance without a match is a miss: it is left out of BOTH accuracy and
CLIP_local (neither has a value for an object that was not drawn), and the number and rate of misses are reported
(``n_unmatched``, ``miss_rate``) so a high accuracy on few detected objects cannot pass unseen. ``n_conditioned``
(instances scored or not, at most 30 per image) and ``n_matched`` let a table say why a value is missing
("65/65 unmatched").

The encoder is anything with ``encode_images(list[PIL.Image]) -> (n, d)`` and ``encode_texts(list[str]) -> (n, d)``
(:class:`ImageTextEncoder`); :class:`OpenClipEncoder` wraps open_clip (ViT-L-14 ``laion2b_s32b_b82k``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from instdiff.core.errors import InputError
from instdiff.core.image_errors import DECODE_ERRORS, regenerate_fix
from instdiff.core.original_constants import COLORS, MAX_OBJS, TEXTURES

log = logging.getLogger(__name__)

ATTRIBUTES = {"colors": COLORS, "textures": TEXTURES}
DETECTION_CONF = 0.3  # GenEval's detector confidence threshold; the detected variant's default
LABEL_TEMPLATE = "a {} object"


class ImageTextEncoder(Protocol):
    """What attribute binding needs from a CLIP-like model. Features need not be normalised."""

    def encode_images(self, images: list[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Item:
    """One image to score: its file, the instance phrases and the normalised xyxy boxes to crop."""

    image_id: Any
    file: str
    phrases: list[str]
    boxes: list[Sequence[float]]  # one per phrase; None = no box (unmatched detection)
    category_ids: list[int] | None = None  # one per phrase (COCO ids); the detected variant matches within a class


@dataclass
class ImageResult:
    image_id: Any
    file: str
    similarity: list[float] = field(default_factory=list)
    correct: list[int] = field(default_factory=list)
    skipped: int = 0  # zero-size crops
    unmatched: int = 0  # detected variant: GT instances without a detection (misses, in neither column)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "file": self.file,
            "similarity": self.similarity,
            "correct": self.correct,
            "accuracy": float(np.mean(self.correct)) if self.correct else None,
            "clip_local": float(np.mean(self.similarity)) if self.similarity else None,
            "skipped": self.skipped,
            "unmatched": self.unmatched,
        }


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def crop_box(image: Image.Image, box: Sequence[float]) -> Image.Image | None:
    """The original's crop (PIL rounds float corners half to even); None when it has zero width or height."""
    x0, y0, x1, y1 = box
    w, h = image.width, image.height
    # PIL rounds each corner with Python's round(); compute the same to detect empty crops before cropping.
    if round(x1 * w) - round(x0 * w) <= 0 or round(y1 * h) - round(y0 * h) <= 0:
        return None
    return image.crop((x0 * w, y0 * h, x1 * w, y1 * h))


def attribute_label(phrase: str, labels: list[str], where: str, path) -> int:
    """Index of the phrase's first word in ``labels`` (the original's ground truth)."""
    first = phrase.split(" ")[0]
    if first not in labels:
        raise InputError(path, f"phrase {phrase!r} does not start with one of {labels}",
                         "generate this experiment with the attribute prefixes (config experiments.<name>.attributes)",
                         where)
    return labels.index(first)


def score_items(items: Sequence[Item], image_dir: str | Path, attribute: str, encoder: ImageTextEncoder,
                source: str | Path | None = None) -> dict[str, Any]:
    """Attribute accuracy and CLIP_local over ``items`` (see module docstring)."""
    labels = ATTRIBUTES[attribute]
    label_feats = _normalise(encoder.encode_texts([LABEL_TEMPLATE.format(a) for a in labels]))
    per_image: list[ImageResult] = []
    for item in tqdm(items, desc=f"attribute binding ({attribute})", disable=len(items) < 50):
        res = ImageResult(item.image_id, item.file)
        path = Path(image_dir) / item.file
        if not path.exists():
            raise InputError(path, "generated image is missing", regenerate_fix(path))
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except DECODE_ERRORS as exc:  # a truncated PNG fails only here, when its pixels are decoded
            raise InputError(path, f"not a readable image ({exc.__class__.__name__})", regenerate_fix(path)) from None
        crops, phrases, gt = [], [], []
        for i, (phrase, box) in enumerate(zip(item.phrases[:MAX_OBJS], item.boxes[:MAX_OBJS])):
            label = attribute_label(phrase, labels, f"image {item.image_id} instance {i}", source)
            if box is None:
                res.unmatched += 1
                continue
            crop = crop_box(image, box)
            if crop is None:
                res.skipped += 1
                continue
            crops.append(crop)
            phrases.append(phrase)
            gt.append(label)
        if crops:
            img_feats = _normalise(encoder.encode_images(crops))
            txt_feats = _normalise(encoder.encode_texts(phrases))
            res.similarity = [float(v) for v in np.sum(img_feats * txt_feats, axis=-1)]
            pred = np.argmax(img_feats @ label_feats.T, axis=-1)  # first maximum on ties
            res.correct = [int(p == g) for p, g in zip(pred, gt)]
        per_image.append(res)
    acc = [np.mean(r.correct) for r in per_image if r.correct]
    sim = [np.mean(r.similarity) for r in per_image if r.similarity]
    n_scored = sum(len(r.correct) for r in per_image)
    n_missed = sum(r.unmatched for r in per_image)
    n_skipped = sum(r.skipped for r in per_image)
    return {
        "accuracy": float(np.mean(acc)) if acc else float("nan"),
        "clip_local": float(np.mean(sim)) if sim else float("nan"),
        "n_images": len(acc),
        "n_instances": n_scored,
        "n_skipped_empty_crops": n_skipped,
        "n_unmatched": n_missed,
        # what a table prints where a value is missing: "n_unmatched/n_conditioned unmatched"
        "n_conditioned": n_scored + n_skipped + n_missed,
        "n_matched": n_scored + n_skipped,
        "miss_rate": n_missed / (n_scored + n_missed) if n_scored + n_missed else 0.0,
        "per_image": [r.to_dict() for r in per_image],
    }


# --------------------------------------------------------------------------------------------- building items


def items_from_coco(gt, attribute: str, image_ids: Sequence | None = None) -> list[Item]:
    """The original's instance list: sorted ids, all annotations (crowd included), phrases = the attribute
    word chosen by ``ann_id % 8`` + the category name, boxes normalised by the image size."""
    labels = ATTRIBUTES[attribute]
    ids = sorted(gt.imgs if image_ids is None else image_ids)
    items = []
    for img_id in ids:
        info = gt.imgs[img_id]
        w, h = float(info["width"]), float(info["height"])
        anns = gt.imgToAnns.get(img_id, [])[:MAX_OBJS]
        phrases = [f"{labels[a['id'] % len(labels)]} {gt.cats[a['category_id']]['name']}" for a in anns]
        boxes = [(a["bbox"][0] / w, a["bbox"][1] / h, (a["bbox"][0] + a["bbox"][2]) / w,
                  (a["bbox"][1] + a["bbox"][3]) / h) for a in anns]
        items.append(Item(img_id, info["file_name"], phrases, boxes))
    return items


def items_from_layouts(layouts: Sequence, files: dict[str, str]) -> list[Item]:
    """One item per layout (sorted by image id), phrases and boxes as the generator got them.

    ``files`` maps layout id -> image file name (from the experiment's ``done.json``); layouts without an image
    are not scored.
    """
    items = []
    for lay in layouts:
        if str(lay.id) not in files:
            continue
        items.append(Item(lay.image_id if lay.image_id is not None else lay.id, files[str(lay.id)],
                          [inst.phrase for inst in lay.instances], [inst.box for inst in lay.instances],
                          [inst.category_id for inst in lay.instances]))
    return sorted(items, key=lambda it: (str(type(it.image_id)), it.image_id))


def items_with_detections(items: Sequence[Item], detections: dict[Any, list[dict]], image_sizes: dict[Any, tuple[int, int]],
                          iou_threshold: float = 0.5, conf_threshold: float = DETECTION_CONF,
                          source: str | Path | None = None) -> list[Item]:
    """Replace each GT box by the box of its matched detection (None when unmatched); see module docstring."""
    from instdiff.core.layout import box_iou, coco_xywh_px_to_norm_xyxy
    from instdiff.metrics.pim import greedy_match

    out = []
    for item in items:
        if item.category_ids is None or any(c is None for c in item.category_ids[:MAX_OBJS]):
            raise InputError(source, f"image {item.image_id!r}: an instance has no category_id; the detected variant "
                             "matches detections of the same class", "build layouts with the data stage (it records "
                             "category_id)", "instances[].category_id")
        w, h = image_sizes[item.image_id]
        dets = [d for d in detections.get(item.image_id, []) if d["score"] >= conf_threshold]
        det_boxes = [coco_xywh_px_to_norm_xyxy(d["bbox"], w, h) for d in dets]
        gt_boxes, gt_cats = item.boxes[:MAX_OBJS], item.category_ids[:MAX_OBJS]
        # Another class's box is no partner: its IoU is set to -1, below any threshold.
        iou = np.array([[box_iou(g, b) if c == d["category_id"] else -1.0 for b, d in zip(det_boxes, dets)]
                        for g, c in zip(gt_boxes, gt_cats)], dtype=np.float64).reshape(len(gt_boxes), len(det_boxes))
        boxes: list = [None] * len(gt_boxes)
        for g, p in greedy_match(iou, iou_threshold):
            boxes[g] = det_boxes[p]
        out.append(Item(item.image_id, item.file, list(item.phrases[:MAX_OBJS]), boxes, list(gt_cats)))
    return out


# --------------------------------------------------------------------------------------------- open_clip


class OpenClipEncoder:
    """open_clip model + its val transform + tokenizer, as ``ImageTextEncoder``."""

    def __init__(self, model, preprocess, tokenizer, device: str = "cpu", batch_size: int = 64):
        self.model = model.eval().to(device)
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size

    def encode_images(self, images: list[Image.Image]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(images), self.batch_size):
                batch = torch.stack([self.preprocess(im) for im in images[i:i + self.batch_size]]).to(self.device)
                out.append(self.model.encode_image(batch).float().cpu().numpy())
        return np.concatenate(out)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.no_grad():
            tokens = self.tokenizer(texts).to(self.device)
            return self.model.encode_text(tokens).float().cpu().numpy()
