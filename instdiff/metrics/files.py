"""Metric files (``metrics/{experiment}/{metric}.json``, docs/architecture.md): one function per file kind,
each reading the stage inputs, computing one metric and writing it atomically with the run manifest.

Format and validation: :mod:`instdiff.metrics.record` (shared with every reader).
"""

from __future__ import annotations

import logging
from pathlib import Path

from instdiff.core.device import resolve_device
from instdiff.core.errors import InputError
from instdiff.core.io import read_json
from instdiff.metrics import cocofiles
from instdiff.metrics.record import MetricRecord, write_record

log = logging.getLogger(__name__)


def _write(out: str | Path, metric: str, variant: str | None, experiment: str, values: dict, n_images: int,
           settings: dict, per_image: list | None, manifest_path: str | Path | None, **extra) -> dict:
    record = MetricRecord(metric=metric, variant=variant, experiment=experiment,
                          values={k: float(v) for k, v in values.items()}, n_images=int(n_images), settings=settings,
                          per_image=per_image, manifest=read_json(manifest_path) if manifest_path else None, **extra)
    doc = write_record(out, record)
    log.info("%s %s %s: %s over %d images", experiment, metric, variant or "", doc["values"], n_images)
    return doc


def pim_seed(run_seed: int, experiment: str, mode: str) -> int:
    """The legacy-RNG seed of the paper variant: derived from the run, fitted to numpy's 32-bit seed range."""
    from instdiff.core.seeding import derive_seed

    return derive_seed(run_seed, experiment, f"pim_{mode}") % 2**32


def evaluation_inputs(annotations: str | Path, detections: str | Path, done: str | Path | None, need_masks: bool):
    """What every COCO-based metric reads, in this order (so errors come in the same order from the rules and the
    CLI): the ground truth, the scored image ids and the detections.

    The ids are the experiment's images (``done.json``), or None without one: no restriction, every image of the
    annotation file (which must list some), and the metric itself sees every layout it is given.
    """
    gt = cocofiles.load_gt(annotations)
    ids = cocofiles.evaluated_ids(done, gt)
    results = cocofiles.load_results(detections, gt, need_masks=need_masks)
    return gt, (None if done is None else ids), results


def pim_values(gt, results, ids, mode: str, variant: str, seed: int | None, layouts: str | Path | None,
               detections: str | Path) -> dict:
    """PiM of one variant: ``paper`` (eval_pim.py, legacy-RNG ``seed``) or ``corrected`` (the layouts' points)."""
    from instdiff.core.layout import read_layouts
    from instdiff.metrics.pim import pim_corrected, pim_paper

    if variant == "paper":
        return pim_paper(gt, results, mode, seed=seed, image_ids=ids, results_path=detections)
    if variant == "corrected":
        return pim_corrected(gt, results, read_layouts(layouts), mode, image_ids=ids, results_path=detections,
                             layouts_path=layouts)
    raise InputError(None, f"unknown PiM variant {variant!r}", "use paper or corrected", "variant")


def coco_file(annotations: str, detections: str, done: str, manifest: str | None, out: str, iou_type: str,
              experiment: str, backend: str = "pycocotools", bootstrap_resamples: int = 1000,
              bootstrap_seed: int = 0, metric: str | None = None) -> dict:
    """``coco_bbox.json`` / ``coco_segm.json``: AP, AP50, AR@100 on the experiment's images, AP per category and
    image-bootstrap CIs (``bootstrap_resamples`` 0: none). ``metric`` names the file's metric when it is not
    ``coco_{iou_type}`` (``coco_bbox_segmodel``: box AP of the segmentation model's detections)."""
    from instdiff.metrics.coco_ap import bootstrap_intervals, coco_eval
    from instdiff.metrics.ultralytics_ap import ultralytics_metrics

    gt, ids, results = evaluation_inputs(annotations, detections, done, need_masks=iou_type == "segm")
    r = coco_eval(gt, results, iou_type, ids, backend=backend)
    ul = ultralytics_metrics(gt, results, iou_type, ids)  # the same detections, ultralytics' own matching and curves
    values = {"ap": r["ap"], "ap50": r["ap50"], "ar": r["ar"], "ar100": r["ar100"], "r": ul["r"], "p": ul["p"],
              "ultralytics_map50": ul["map50"], "ultralytics_map": ul["map"],
              **{f"stats_{k}": v for k, v in r["stats"].items()}}
    # The bootstrap re-accumulates pycocotools' per-image matches; faster-coco-eval keeps them elsewhere.
    intervals = bootstrap_intervals(r["evaluator"], bootstrap_resamples, bootstrap_seed) \
        if backend == "pycocotools" else {}
    settings = {"iou_type": iou_type, "backend": backend, "detections": str(detections),
                "n_detections": r["n_detections"], "definition": "ap, ap50, ar100 (= ar): pycocotools stats[0], stats[1], stats[8]; r, p: "
                              "ultralytics ap_per_class recall / precision at the max-F1 confidence, IoU 0.5 "
                              "(instdiff/metrics/ultralytics_ap.py)",
                "bootstrap": {"resamples": bootstrap_resamples, "seed": bootstrap_seed, "unit": "image"}}
    return _write(out, metric or f"coco_{iou_type}", None, experiment, values, r["n_images"], settings, None, manifest,
                  per_category=r["per_category"], intervals=intervals or None)


def pim_file(annotations: str, detections: str, done: str, layouts: str, manifest: str | None, out: str, mode: str,
             variant: str, experiment: str, seed: int | None = None, run_seed: int | None = None) -> dict:
    """``pim_{mode}_{variant}.json``. The paper variant's legacy-RNG seed is ``seed``, or derived from
    ``run_seed`` (:func:`pim_seed`) when only that is given."""
    if variant == "paper" and seed is None and run_seed is not None:
        seed = pim_seed(run_seed, experiment, mode)
    if variant != "paper":
        seed = None  # the corrected variant draws nothing
    gt, ids, results = evaluation_inputs(annotations, detections, done, need_masks=True)
    r = pim_values(gt, results, ids, mode, variant, seed, layouts, detections)
    per_image = r.pop("per_image")
    values = {k: v for k, v in r.items()}
    from instdiff.metrics.pim import CORRECTED_CONF, CORRECTED_MIN_IOU

    matching = "greedy, class-agnostic, any confidence, mask IoU >= 0; unmatched instances dropped" \
        if variant == "paper" else (f"greedy, same class, confidence >= {CORRECTED_CONF}, mask IoU >= "
                                    f"{CORRECTED_MIN_IOU}; unmatched instances score 0")
    settings = {"mode": mode, "variant": variant, "seed": seed, "detections": str(detections),
                "matching": matching, "n_points": 20 if mode == "scribble" else 1,
                "conf_floor": CORRECTED_CONF if variant == "corrected" else None,
                "min_iou": CORRECTED_MIN_IOU if variant == "corrected" else None}
    return _write(out, f"pim_{mode}", variant, experiment, values, values["n_images"], settings, per_image, manifest)


def attribute_files(annotations: str, layouts: str, done: str, clip_model: str, manifest: str | None,
                    outs: dict[str, str], attribute: str, experiment: str, detections: str | None = None,
                    iou_threshold: float = 0.5, device: str = "auto", encoder=None,
                    conf_threshold: float | None = None) -> dict[str, dict]:
    """Both variants of an experiment, ``outs`` = {variant: path}, with one CLIP model: the attribute metric always
    writes both files (instdiff/metrics/registry.py), and loading open_clip is most of each variant's CPU.
    Each file is what :func:`attribute_file` writes alone (the encoder keeps no state between calls);
    ``detections`` and ``conf_threshold`` go to the detected variant only."""
    from instdiff.metrics import clip_models

    enc = encoder if encoder is not None else clip_models.encoder(clip_model, resolve_device(device, gpu="cuda:0"))
    return {variant: attribute_file(annotations, layouts, done, clip_model, manifest, out, attribute, experiment,
                                    variant=variant, detections=detections if variant == "detected" else None,
                                    iou_threshold=iou_threshold, device=device, encoder=enc,
                                    conf_threshold=conf_threshold if variant == "detected" else None)
            for variant, out in outs.items()}


def attribute_file(annotations: str, layouts: str, done: str, clip_model: str, manifest: str | None, out: str,
                   attribute: str, experiment: str, variant: str = "gt", detections: str | None = None,
                   iou_threshold: float = 0.5, device: str = "auto", encoder=None, conf_threshold: float | None = None) -> dict:
    """``attribute_gt.json`` / ``attribute_detected.json``. ``encoder`` overrides the CLIP model (tests)."""
    from instdiff.metrics import clip_models
    from instdiff.core.layout import read_layouts
    from instdiff.metrics.attribute import DETECTION_CONF, items_from_layouts, items_with_detections, score_items

    gt = cocofiles.load_gt(annotations)
    done_images = cocofiles.read_done(done)
    files = {str(img["id"]): img["file"] for img in done_images}
    items = items_from_layouts(read_layouts(layouts), files)
    if variant == "detected":
        if detections is None:
            raise InputError(None, "the detected variant needs a detections file", "pass detections", "detections")
        results = cocofiles.load_results(detections, gt)
        sizes = {i: (int(gt.imgs[i]["width"]), int(gt.imgs[i]["height"])) for i in gt.imgs}
        for it in items:
            if it.image_id not in sizes:
                raise InputError(layouts, f"image {it.image_id!r} is not in {annotations}", "use matching files", "image_id")
        conf_threshold = DETECTION_CONF if conf_threshold is None else conf_threshold
        items = items_with_detections(items, cocofiles.results_by_image(results), sizes, iou_threshold,
                                      conf_threshold, source=layouts)
    elif variant != "gt":
        raise InputError(None, f"unknown attribute variant {variant!r}", "use gt or detected", "variant")
    enc = encoder if encoder is not None else clip_models.encoder(clip_model, resolve_device(device, gpu="cuda:0"))
    r = score_items(items, Path(done).parent, attribute, enc, source=layouts)
    per_image = r.pop("per_image")
    values = {"accuracy": r["accuracy"], "clip_local": r["clip_local"], "n_instances": r["n_instances"],
              "n_skipped_empty_crops": r["n_skipped_empty_crops"], "n_unmatched": r["n_unmatched"],
              "n_conditioned": r["n_conditioned"], "n_matched": r["n_matched"],
              "miss_rate": r["miss_rate"]}
    detected = variant == "detected"
    settings = {"attribute": attribute, "variant": variant, "clip_model": str(clip_model),
                "prompt": "a {attr} object", "detections": None if detections is None else str(detections),
                "iou_threshold": iou_threshold if detected else None,
                "conf_threshold": conf_threshold if detected else None,
                "matching": "same class, greedy by box IoU; misses left out of accuracy and CLIP_local alike"
                            if detected else None}
    return _write(out, "attribute", variant, experiment, values, r["n_images"], settings, per_image, manifest)
