# Path and input helpers of the detection and evaluation stages (functions only, so --lint stays clean).

CLIP = config["models"]["clip_attribute"]


def yolo_path(detector):
    """The detector's .pt file: built per run in the smoke config, downloaded once otherwise."""
    return (
        R(f"models/yolo/{detector}.pt") if SMOKE else RES(f"models/yolo/{detector}.pt")
    )


def detector_for(metric):
    """docs/architecture.md: boxes from models.detector_box, masks (segm AP, PiM) and the sensitivity row's boxes
    (coco_bbox_segmodel) from models.detector_mask (instdiff.metrics.registry)."""
    return config["models"][detector_of(metric)]


def detections(experiment, metric):
    return R(f"detections/{experiment}/{detector_for(metric)}.json")


def clip_path():
    if SMOKE:
        return R("models/clip/tiny-clip.pt")
    return RES(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt")


def attribute_of(experiment):
    """The scored attribute list (colors or textures) of the attribute metric."""
    return scored_attribute(EXPERIMENTS, experiment)


def annotations_for(experiment):
    """The GT an experiment is scored against: the official file for native-resolution real images (real_fullres),
    else the annotations squashed to 512x512 like the images."""
    if EXPERIMENTS[experiment].get("resolution", "squashed512") == "native":
        return f"{COCO_SOURCE}/annotations/instances_val2017.json"
    return R("data/annotations_512.json")


def metric_inputs(metric):
    """Inputs shared by the metric rules; ``metric`` picks the detector (None: no detections)."""

    def inputs(wc):
        files = {
            "annotations": annotations_for(wc.experiment),
            "layouts": R(f"layouts/{wc.experiment}.jsonl"),
            "images": R(f"images/{wc.experiment}/done.json"),
            "manifest": R("manifest.json"),
        }
        if metric is not None:
            files["detections"] = detections(wc.experiment, metric)
        return files

    return inputs
