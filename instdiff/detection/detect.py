"""YOLOv8 detections of an experiment's images, written as a COCO results JSON.

Each detection is ``{"image_id", "category_id", "bbox", "score"[, "segmentation"]}``: ``bbox`` is xywh in pixels
of the image, ``category_id`` the COCO 91-id (ultralytics' 80 -> 91 map), ``segmentation`` a compressed RLE at
the image's resolution (retina masks) for segmentation models.

Settings are the ultralytics validator's (``yolo val``, which produced the paper's numbers): conf 0.001,
NMS IoU 0.7, max_det 300, imgsz 640, and its NMS (``multi_label=True``: a box may be kept for several classes;
the plain predictor keeps one class per box) and rounding (bbox to 3 decimals, score to 5). Empty predicted
masks are kept, as the validator keeps them.

Two modes (``detection.mode``):

- ``predict``: ultralytics' predictor image by image (square 640 x 640 letterbox, masks by
  ``process_mask_native`` at the image's size). Differs from ``yolo val`` in the network input at the borders.
- ``validator`` (the paper config's default): the validator's own input and mask path. Images are ordered by
  aspect ratio and batched (``detection.batch``) exactly as ``YOLODataset.set_rectangle`` does, the long side is
  resized to ``imgsz`` as ``load_image`` does, and each batch is letterboxed to its rect shape, padded by half a
  stride (672 x 672 for square images at imgsz 640), by ultralytics' ``LetterBox``; the network is the validator's
  ``AutoBackend`` (fused), NMS and box scaling (``scale_boxes`` with the letterbox ``ratio_pad``) are its calls.
  Masks follow ``detection.mask_path``: ``v8.0.119`` (the version the paper used: ``process_mask`` upsampled to
  the letterbox size and thresholded, the padding cropped and ``cv2.resize``-d to the image, then cast to uint8 as
  its ``single_encode`` did, so only pixels that stay exactly 1 are kept), or ``installed`` (this ultralytics'
  validator: ``process_mask_native`` then ``scale_masks`` and ``.byte()``), which
  ``tests/unit/test_validator_parity.py`` compares with the installed validator's ``save_json`` output.

Before any prediction the images are checked to be exactly the experiment's: the ids of ``done.json`` equal
those of the experiment's layouts, all are images of the annotation file, and every file exists at the
annotated size (512 x 512).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from instdiff.core.device import resolve_device
from instdiff.core.errors import InputError
from instdiff.core.image_errors import DECODE_ERRORS, regenerate_fix
from instdiff.core.io import write_json
from instdiff.metrics.cocofiles import as_image_id, load_gt, read_done

log = logging.getLogger(__name__)

VALIDATOR_SETTINGS = {"conf": 0.001, "iou": 0.7, "max_det": 300, "imgsz": 640, "mode": "predict",
                      "mask_path": "v8.0.119", "batch": 16}
MODES = ("predict", "validator")
MASK_PATHS = ("v8.0.119", "installed")


# --------------------------------------------------------------------------------------------- image checks


def experiment_images(done_path: str | Path, gt, layout_ids: Sequence | None = None) -> list[tuple[Any, Path]]:
    """(image id, file) of every image in ``done.json``, checked against the layouts and the annotation file."""
    from PIL import Image

    done_path = Path(done_path)
    images = read_done(done_path)
    ids = [as_image_id(img["id"]) for img in images]
    if len(set(ids)) != len(ids):
        raise InputError(done_path, "image ids are not unique", "re-run the rule that writes done.json", "images")
    if layout_ids is not None:
        expected = {as_image_id(i) for i in layout_ids}
        missing, extra = expected - set(ids), set(ids) - expected
        if missing or extra:
            raise InputError(done_path, f"{len(ids)} images listed, the experiment has {len(expected)} layouts "
                             f"(missing {sorted(missing, key=str)[:5]}, extra {sorted(extra, key=str)[:5]})",
                             "finish generation for every layout of the experiment (and nothing else)", "images")
    out = []
    for img, img_id in zip(images, ids):
        if img_id not in gt.imgs:
            raise InputError(done_path, f"image {img_id!r} is not in the annotation file {gt.source}",
                             "generate from the layouts of the same annotation file", "images")
        path = Path(img["file"])
        path = path if path.is_absolute() else done_path.parent / path
        if not path.exists():
            raise InputError(path, "image listed in done.json does not exist", regenerate_fix(path))
        info = gt.imgs[img_id]
        try:
            with Image.open(path) as im:
                size = im.size
                im.load()  # decode every pixel: a truncated PNG has a valid header and fails only here
        except DECODE_ERRORS as exc:
            raise InputError(path, f"not a readable image ({exc})", regenerate_fix(path)) from None
        if size != (int(info["width"]), int(info["height"])):
            raise InputError(path, f"image is {size[0]}x{size[1]}, the annotation file says "
                             f"{info['width']}x{info['height']}", "generate at the annotated size (512x512)")
        out.append((img_id, path))
    return out


# --------------------------------------------------------------------------------------------- prediction


def _validator_predictor(task: str):
    """A predictor class with the validator's NMS (multi-label) that keeps empty masks (retina masks)."""
    from ultralytics.engine.results import Results
    from ultralytics.models.yolo.detect import DetectionPredictor
    from ultralytics.models.yolo.segment import SegmentationPredictor
    from ultralytics.utils import nms, ops

    base = SegmentationPredictor if task == "segment" else DetectionPredictor

    class ValidatorPredictor(base):
        def postprocess(self, preds, img, orig_imgs, **kwargs):
            protos = None
            if task == "segment":
                protos = preds[0][1] if isinstance(preds[0], tuple) else preds[1]
                preds = preds[0]
            out = nms.non_max_suppression(
                preds, self.args.conf, self.args.iou, nc=len(self.model.names) if task == "segment" else 0,
                multi_label=True, agnostic=False, max_det=self.args.max_det,
            )
            if not isinstance(orig_imgs, list):
                orig_imgs = ops.convert_torch2numpy_batch(orig_imgs)[..., ::-1]
            results = []
            for i, (pred, orig) in enumerate(zip(out, orig_imgs)):
                path = self.batch[0][i]
                pred[:, :4] = ops.scale_boxes(img.shape[2:], pred[:, :4], orig.shape)
                masks = None
                if task == "segment" and len(pred):
                    masks = ops.process_mask_native(protos[i], pred[:, 6:], pred[:, :4], orig.shape[:2])
                results.append(Results(orig, path=path, names=self.model.names, boxes=pred[:, :6], masks=masks))
            return results

    return ValidatorPredictor


def coco91_map(model, model_path) -> list[int]:
    """The 80 -> 91 class map; the model must have the 80 COCO classes."""
    from ultralytics.data.converter import coco80_to_coco91_class

    if len(model.names) != 80:
        raise InputError(model_path, f"detector has {len(model.names)} classes, not the 80 COCO classes",
                         "use a COCO-trained YOLOv8 (yolov8m.pt / yolov8m-seg.pt) or the tiny smoke model")
    return coco80_to_coco91_class()


def encode_masks(masks: np.ndarray) -> list[dict]:
    """(n, H, W) 0/1 -> compressed RLEs with string counts."""
    from pycocotools import mask as mask_utils

    # pycocotools wants (H, W, n) in Fortran order: one copy at most, none for _masks_v8_0_119's layout
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0), dtype=np.uint8))
    return [{"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")} for r in rles]


def result_to_coco(result, image_id: Any, class_map: list[int]) -> list[dict]:
    """One ultralytics ``Results`` -> COCO result dicts (validator rounding)."""
    boxes = result.boxes
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
    conf = boxes.conf.cpu().numpy().tolist()
    cls = boxes.cls.cpu().numpy().astype(int).tolist()
    rles = encode_masks(result.masks.data.cpu().numpy()) if result.masks is not None else None
    out = []
    for k in range(len(cls)):
        x0, y0, x1, y1 = xyxy[k]
        det = {"image_id": image_id, "category_id": class_map[cls[k]],
               "bbox": [round(float(v), 3) for v in (x0, y0, x1 - x0, y1 - y0)], "score": round(conf[k], 5)}
        if rles is not None:
            det["segmentation"] = rles[k]
        out.append(det)
    return out


def predict(model, images: list[tuple[Any, Path]], settings: dict, model_path, device: str = "cpu",
            batch: int = 8) -> list[dict]:
    """Detections of every image, in image order then the detector's (confidence) order."""
    class_map = coco91_map(model, model_path)
    task = model.task
    if task not in ("detect", "segment"):
        raise InputError(model_path, f"detector task is {task!r}", "use a detect or segment YOLOv8 model")
    predictor = _validator_predictor(task)
    args = {k: settings[k] for k in ("conf", "iou", "max_det", "imgsz")}
    detections: list[dict] = []
    for start in tqdm(range(0, len(images), batch), desc="detect", disable=len(images) < 4 * batch):
        chunk = images[start:start + batch]
        results = model.predict([str(p) for _, p in chunk], predictor=predictor, retina_masks=True, device=device,
                                verbose=False, save=False, batch=len(chunk), **args)
        for (img_id, _), res in zip(chunk, results):
            detections.extend(result_to_coco(res, img_id, class_map))
    return detections


# --------------------------------------------------------------------------------------------- validator mode


def validator_batches(files: Sequence[Path], sizes: Sequence[tuple[int, int]], imgsz: int, stride: int, batch: int,
                      pad: float = 0.5) -> list[tuple[list[int], tuple[int, int]]]:
    """(indices into ``files``, letterbox (h, w)) per batch, as ``YOLODataset.set_rectangle`` builds them.

    The dataset lists files sorted by path, then sorts them by aspect ratio h / w (numpy's default argsort, as
    ultralytics), batches them in that order and gives each batch the rect shape
    ``ceil(shape * imgsz / stride + pad) * stride``.
    """
    by_path = sorted(range(len(files)), key=lambda i: str(files[i]))
    hw = np.array([(sizes[i][1], sizes[i][0]) for i in by_path], dtype=np.float64)
    ar = hw[:, 0] / hw[:, 1]
    irect = ar.argsort()
    order = [by_path[i] for i in irect]
    ar = ar[irect]
    bi = np.floor(np.arange(len(order)) / batch).astype(int)
    out = []
    for b in range(int(bi[-1]) + 1 if len(order) else 0):
        ari = ar[bi == b]
        shape = [1, 1]
        if ari.max() < 1:
            shape = [ari.max(), 1]
        elif ari.min() > 1:
            shape = [1, 1 / ari.min()]
        h, w = (np.ceil(np.array(shape) * imgsz / stride + pad).astype(int) * stride).tolist()
        out.append(([order[i] for i in np.flatnonzero(bi == b)], (int(h), int(w))))
    return out


def _load_letterboxed(path: Path, imgsz: int, rect_shape: tuple[int, int]) -> tuple[np.ndarray, tuple, tuple]:
    """``BaseDataset.load_image`` (long side to imgsz) + ``LetterBox(scaleup=False)`` to the batch's rect shape.
    Returns the CHW RGB uint8 image, the original (h, w) and the validator's ``ratio_pad``."""
    import math

    import cv2
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.patches import imread

    im = imread(str(path), flags=cv2.IMREAD_COLOR)  # BGR, as the dataset reads it
    if im is None:
        raise InputError(path, "not a readable image", "delete it and re-run the rule that wrote it")
    h0, w0 = im.shape[:2]
    r = imgsz / max(h0, w0)
    if r != 1:
        im = cv2.resize(im, (min(math.ceil(w0 * r), imgsz), min(math.ceil(h0 * r), imgsz)),
                        interpolation=cv2.INTER_LINEAR)
    hr, wr = im.shape[:2]
    labels = LetterBox(new_shape=imgsz, scaleup=False)(
        labels={"img": im, "rect_shape": rect_shape, "ratio_pad": (hr / h0, wr / w0)})
    chw = np.ascontiguousarray(labels["img"].transpose(2, 0, 1)[::-1])  # BGR -> RGB, as the dataset's Format
    return chw, (h0, w0), labels["ratio_pad"]


def _masks_v8_0_119(protos, coef, boxes, lb_shape, orig_shape, ratio_pad) -> np.ndarray:
    """ultralytics 8.0.119's validator masks: process_mask(upsample=True) at the letterbox size (> 0.5), the
    padding cropped (int of the pad), cv2.resize (bilinear) to the image, cast to uint8 (truncation)."""
    import cv2
    from ultralytics.utils import ops

    masks = ops.process_mask(protos, coef, boxes, lb_shape, upsample=True).cpu().numpy().astype(np.float32)
    if not len(masks):
        return np.zeros((0, *orig_shape), np.uint8)
    pad_w, pad_h = ratio_pad[1]
    top, left = int(pad_h), int(pad_w)
    bottom, right = int(lb_shape[0] - pad_h), int(lb_shape[1] - pad_w)
    # 8.0.119 resized the (h, w, n) stack in one cv2.resize; bilinear is per channel, so one mask at a time is the same.
    # Each float result is stored straight into uint8 (the same truncating cast as its astype), in the (H, W, n)
    # Fortran layout pycocotools encodes from: up to 300 masks per image, no float stack and no copy to encode.
    crops = masks[:, top:bottom, left:right]
    out = np.empty((*orig_shape, len(crops)), np.uint8, order="F")
    for i, m in enumerate(crops):
        out[:, :, i] = cv2.resize(np.ascontiguousarray(m), (orig_shape[1], orig_shape[0]))
    return out.transpose(2, 0, 1)


def _masks_installed(protos, coef, boxes, lb_shape, orig_shape, ratio_pad) -> np.ndarray:
    """The installed ultralytics validator's save_json masks: process_mask_native, scale_masks, byte()."""
    from ultralytics.utils import ops

    masks = ops.process_mask_native(protos, coef, boxes, shape=lb_shape)
    return ops.scale_masks(masks[None], orig_shape, ratio_pad=ratio_pad)[0].byte().cpu().numpy()


def predict_validator(model, images: list[tuple[Any, Path]], settings: dict, model_path,
                      device: str = "cpu") -> list[dict]:
    """Detections as ``yolo val`` computes them (see the module docstring), in image order then confidence order."""
    import torch
    from ultralytics.nn.autobackend import AutoBackend
    from ultralytics.utils import nms, ops
    from PIL import Image

    class_map = coco91_map(model, model_path)
    task = model.task
    if task not in ("detect", "segment"):
        raise InputError(model_path, f"detector task is {task!r}", "use a detect or segment YOLOv8 model")
    if settings["mask_path"] not in MASK_PATHS:
        raise InputError(None, f"unknown mask path {settings['mask_path']!r}", f"use one of {MASK_PATHS}",
                         "detection.mask_path")
    mask_fn = _masks_v8_0_119 if settings["mask_path"] == "v8.0.119" else _masks_installed
    backend = AutoBackend(model.model, device=torch.device(device), fuse=True, verbose=False)
    backend.eval()
    stride = max(int(backend.stride), 32)
    imgsz = int(settings["imgsz"])
    files = [p for _, p in images]
    sizes = []
    for p in files:
        with Image.open(p) as im:
            sizes.append(im.size)
    per_image: dict[int, list[dict]] = {}
    batches = validator_batches(files, sizes, imgsz, stride, int(settings.get("batch", 16)))
    for idx, shape in tqdm(batches, desc="detect (validator)", disable=len(batches) < 4):
        loaded = [_load_letterboxed(files[i], imgsz, shape) for i in idx]
        x = torch.from_numpy(np.stack([c for c, _, _ in loaded])).to(device).float() / 255
        with torch.inference_mode():
            preds = backend(x)
        protos = None
        if task == "segment":
            protos = preds[0][1] if isinstance(preds[0], tuple) else preds[1]
            preds = preds[0]
        out = nms.non_max_suppression(preds, settings["conf"], settings["iou"], nc=0 if task == "detect" else len(model.names),
                                      multi_label=True, agnostic=False, max_det=settings["max_det"])
        for k, (i, det) in enumerate(zip(idx, out)):
            _, orig, ratio_pad = loaded[k]
            boxes = ops.scale_boxes(x.shape[2:], det[:, :4].clone(), orig, ratio_pad=ratio_pad)
            rles = None
            if task == "segment":
                rles = encode_masks(mask_fn(protos[k], det[:, 6:], det[:, :4], tuple(x.shape[2:]), orig, ratio_pad))
            per_image[i] = _coco_records(images[i][0], boxes.cpu().numpy().astype(np.float64),
                                         det[:, 4].cpu().numpy().tolist(), det[:, 5].cpu().numpy().astype(int).tolist(),
                                         rles, class_map)
    return [d for i in range(len(images)) for d in per_image.get(i, [])]


def _coco_records(image_id, xyxy: np.ndarray, conf: list, cls: list, rles: list | None, class_map) -> list[dict]:
    """The validator's pred_to_json records: xywh from xyxy, bbox rounded to 3 decimals, score to 5."""
    out = []
    for k in range(len(cls)):
        x0, y0, x1, y1 = xyxy[k]
        w, h = x1 - x0, y1 - y0
        cx, cy = x0 + w / 2, y0 + h / 2  # ops.xyxy2xywh, then the centre moved back to the corner
        det = {"image_id": image_id, "category_id": class_map[cls[k]],
               "bbox": [round(float(v), 3) for v in (cx - w / 2, cy - h / 2, w, h)], "score": round(conf[k], 5)}
        if rles is not None:
            det["segmentation"] = rles[k]
        out.append(det)
    return out


def run_detection(model_path: str | Path, done_path: str | Path, annotations_path: str | Path,
                  out_path: str | Path, settings: dict | None = None, layouts_path: str | Path | None = None,
                  device: str = "auto") -> dict:
    """Check the experiment's images, detect them, write the COCO results JSON; returns a summary."""
    from instdiff.detection import yolo_models

    settings = {**VALIDATOR_SETTINGS, **(settings or {})}
    gt = load_gt(annotations_path)
    layout_ids = None
    if layouts_path is not None:
        from instdiff.core.layout import read_layouts

        layout_ids = [lay.image_id if lay.image_id is not None else lay.id for lay in read_layouts(layouts_path)]
    images = experiment_images(done_path, gt, layout_ids)
    if settings["mode"] not in MODES:
        raise InputError(None, f"unknown detection mode {settings['mode']!r}", f"use one of {MODES}", "detection.mode")
    model = yolo_models.load(model_path)
    run = predict_validator if settings["mode"] == "validator" else predict
    detections = run(model, images, settings, model_path, device=resolve_device(device, gpu="cuda:0"))
    write_json(out_path, detections, indent=None)
    summary = {"n_images": len(images), "n_detections": len(detections), "settings": settings, "model": str(model_path)}
    log.info("detections: %s", summary)
    return summary
