"""YOLOv8 detections of an experiment's images, written as a COCO results JSON.

Each detection is ``{"image_id", "category_id", "bbox", "score"[, "segmentation"]}``: ``bbox`` is xywh in pixels
of the image, ``category_id`` the COCO 91-id (ultralytics' 80 -> 91 map), ``segmentation`` a compressed RLE at
the image's resolution (retina masks) for segmentation models.

Settings are the ultralytics validator's (``yolo val``, which produced the paper's numbers): conf 0.001,
NMS IoU 0.7, max_det 300, imgsz 640, and its NMS (``multi_label=True``: a box may be kept for several classes;
the plain predictor keeps one class per box) and rounding (bbox to 3 decimals, score to 5). Empty predicted
masks are kept, as the validator keeps them. One deliberate difference: the validator letterboxes
square images into rect batches padded by half a stride (672 x 672 at imgsz 640); predicting image by image
uses 640 x 640 without padding, which changes the network input at the borders only.

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

from instdiff.errors import InputError
from instdiff.io import write_json
from instdiff.metrics.cocofiles import as_image_id, load_gt, read_done

log = logging.getLogger(__name__)

VALIDATOR_SETTINGS = {"conf": 0.001, "iou": 0.7, "max_det": 300, "imgsz": 640}


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
            raise InputError(path, "image listed in done.json does not exist", "re-run generation for this experiment")
        info = gt.imgs[img_id]
        try:
            with Image.open(path) as im:
                size = im.size
        except Exception as exc:  # PIL raises several types for corrupt files
            raise InputError(path, f"not a readable image ({exc})", "delete it and re-run generation") from None
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

    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
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


def run_detection(model_path: str | Path, done_path: str | Path, annotations_path: str | Path,
                  out_path: str | Path, settings: dict | None = None, layouts_path: str | Path | None = None,
                  device: str = "auto") -> dict:
    """Check the experiment's images, detect them, write the COCO results JSON; returns a summary."""
    from instdiff import yolo_models

    settings = {**VALIDATOR_SETTINGS, **(settings or {})}
    gt = load_gt(annotations_path)
    layout_ids = None
    if layouts_path is not None:
        from instdiff.layout import read_layouts

        layout_ids = [lay.image_id if lay.image_id is not None else lay.id for lay in read_layouts(layouts_path)]
    images = experiment_images(done_path, gt, layout_ids)
    from instdiff.device import resolve as resolve_device

    model = yolo_models.load(model_path)
    detections = predict(model, images, settings, model_path, device=resolve_device(device))
    write_json(out_path, detections, indent=None)
    summary = {"n_images": len(images), "n_detections": len(detections), "settings": settings, "model": str(model_path)}
    log.info("detections: %s", summary)
    return summary
