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
  Masks follow ``detection.mask_path``: ``v8.0.119`` (the version the paper used, with the ``save_json`` that it
  forced for COCO: ``process_mask_upsample`` at the letterbox size, cast to uint8, the padding cropped and the
  bytes ``cv2.resize``-d to the image, which rounds; ``tests/parity/test_v8_0_119_validator.py`` checks it, with
  the NMS and the box scaling, against the 8.0.119 wheel's own validator), or ``installed`` (this ultralytics'
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


def _masks_v8_0_119(protos, coef, boxes, lb_shape, orig_shape, ratio_pad, chunk: int = 32) -> np.ndarray:
    """ultralytics 8.0.119's validator masks with ``save_json`` (forced for COCO), step by step:

    1. ``ops.process_mask_upsample``: sigmoid of the prototype mix, bilinear upsample (``align_corners=False``) to
       the letterbox size, zeroed outside the box at that size (``crop_mask``: ``x1 <= col < x2``), ``> 0.5``;
    2. ``torch.as_tensor(pred_masks, dtype=torch.uint8)`` (``update_metrics``): 0/1 bytes BEFORE the resize;
    3. ``ops.scale_image``: the padding cropped (``int`` of the pad on each side; nothing when the letterbox
       already has the image's shape) and ``cv2.resize`` (bilinear) of the uint8 masks to the image. On bytes
       OpenCV's bilinear rounds, so an edge pixel with weight >= 0.5 stays in the mask; resizing floats and then
       casting would truncate it away (about 1 px per edge lost).

    ``tests/parity/test_v8_0_119_validator.py`` runs the 8.0.119 wheel's own validator on the same tensors.
    The masks are computed ``chunk`` at a time (each mask is independent) to bound memory at 300 masks.
    """
    import cv2
    import torch
    import torch.nn.functional as F

    n = len(coef)
    out = np.empty((*orig_shape, n), np.uint8, order="F")  # (H, W, n) Fortran: what pycocotools encodes from
    if not n:
        return out.transpose(2, 0, 1)
    c, mh, mw = protos.shape
    lh, lw = lb_shape
    resize = tuple(lb_shape) != tuple(orig_shape)
    pad_w, pad_h = ratio_pad[1]
    top, left = int(pad_h), int(pad_w)
    bottom, right = int(lh - pad_h), int(lw - pad_w)
    cols = torch.arange(lw, device=protos.device, dtype=boxes.dtype)[None, None, :]
    rows = torch.arange(lh, device=protos.device, dtype=boxes.dtype)[None, :, None]
    for s in range(0, n, chunk):
        m = (coef[s:s + chunk] @ protos.float().view(c, -1)).sigmoid().view(-1, mh, mw)
        m = F.interpolate(m[None], (lh, lw), mode="bilinear", align_corners=False)[0]
        x1, y1, x2, y2 = torch.chunk(boxes[s:s + chunk, :, None], 4, 1)
        # crop_mask's product with the box, then > 0.5, as booleans: the same pixels (a sigmoid times 1 is itself,
        # times 0 is 0), at half the cost of the float products on 300 masks.
        inside = ((cols >= x1) & (cols < x2)) & ((rows >= y1) & (rows < y2))
        m = (m.gt(0.5) & inside).to(torch.uint8).cpu().numpy()  # the uint8 cast comes first, as in 8.0.119
        for i, mask in enumerate(m):
            out[:, :, s + i] = cv2.resize(np.ascontiguousarray(mask[top:bottom, left:right]),
                                          (orig_shape[1], orig_shape[0])) if resize else mask
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
    from PIL import Image

    class_map = coco91_map(model, model_path)
    task = model.task
    if task not in ("detect", "segment"):
        raise InputError(model_path, f"detector task is {task!r}", "use a detect or segment YOLOv8 model")
    if settings["mask_path"] not in MASK_PATHS:
        raise InputError(None, f"unknown mask path {settings['mask_path']!r}", f"use one of {MASK_PATHS}",
                         "detection.mask_path")
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
        records = validator_postprocess(preds, tuple(x.shape[2:]), [(orig, rp) for _, orig, rp in loaded],
                                        [images[i][0] for i in idx], settings, task, len(model.names), class_map)
        per_image.update(zip(idx, records))
    return [d for i in range(len(images)) for d in per_image.get(i, [])]


def validator_postprocess(preds, lb_shape: tuple[int, int], metas: Sequence[tuple[tuple, tuple]], image_ids: Sequence,
                          settings: dict, task: str, nc: int, class_map: list[int]) -> list[list[dict]]:
    """The validator's steps after the network, for one letterboxed batch: NMS (multi-label, class-aware, the
    settings' conf / iou / max_det), boxes scaled back with each image's letterbox ``ratio_pad``, masks by
    ``detection.mask_path``, and the ``pred_to_json`` records. ``metas`` holds each image's (original (h, w),
    ratio_pad); returns one list of COCO records per image."""
    from ultralytics.utils import nms, ops

    mask_fn = _masks_v8_0_119 if settings["mask_path"] == "v8.0.119" else _masks_installed
    protos = None
    if task == "segment":
        protos = preds[0][1] if isinstance(preds[0], tuple) else preds[1]
        preds = preds[0]
    out = nms.non_max_suppression(preds, settings["conf"], settings["iou"], nc=0 if task == "detect" else nc,
                                  multi_label=True, agnostic=False, max_det=settings["max_det"])
    records = []
    for k, det in enumerate(out):
        orig, ratio_pad = metas[k]
        boxes = ops.scale_boxes(lb_shape, det[:, :4].clone(), orig, ratio_pad=ratio_pad)
        rles = None
        if task == "segment":
            rles = encode_masks(mask_fn(protos[k], det[:, 6:], det[:, :4], lb_shape, orig, ratio_pad))
        records.append(_coco_records(image_ids[k], boxes,
                                     det[:, 4].cpu().numpy().tolist(), det[:, 5].cpu().numpy().astype(int).tolist(),
                                     rles, class_map))
    return records


def _coco_records(image_id, xyxy, conf: list, cls: list, rles: list | None, class_map) -> list[dict]:
    """The validator's pred_to_json records: ``ops.xyxy2xywh`` on the (float32) box tensor and the centre moved
    back to the corner in that dtype, as 8.0.119 and this ultralytics do, then bbox rounded to 3 decimals and score
    to 5 (in float64 the third decimal differs now and then)."""
    from ultralytics.utils import ops

    box = ops.xyxy2xywh(xyxy)
    box[:, :2] -= box[:, 2:] / 2
    box = box.cpu().tolist()
    out = []
    for k in range(len(cls)):
        det = {"image_id": image_id, "category_id": class_map[cls[k]],
               "bbox": [round(v, 3) for v in box[k]], "score": round(conf[k], 5)}
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
