# Metrics stage: the CLIP model for attribute binding and one rule per metric file
# (metrics/{experiment}/{metric}.json, docs/architecture.md). Every metric file embeds the run manifest.


rule clip_download:
    output:
        weights=resource_path(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt"),
        record=resource_path(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt.json"),
    log:
        log_file("models/clip_download"),
    benchmark:
        BENCH("models/clip_download")
    retries: 2
    localrule: True
    conda:
        conda_env("clip")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        env=ENV("clip"),
        code=CODE("metrics_clip_download"),
        arch=CLIP["arch"],
        pretrained=CLIP["pretrained"],
        expected_sha256=config["models"]
        .get("sha256", {})
        .get(f"{CLIP['arch']}_{CLIP['pretrained']}"),
    script:
        "../scripts/metrics_clip_download.py"


rule clip_tiny:
    output:
        weights=run_path("models/clip/tiny-clip.pt"),
        record=run_path("models/clip/tiny-clip.pt.json"),
    log:
        log_file("models/clip_tiny"),
    benchmark:
        BENCH("models/clip_tiny")
    priority: CRITICAL_PATH_PRIORITY
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("clip")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        env=ENV("clip"),
        code=CODE("metrics_clip_tiny"),
        seed=config["seed"],
    script:
        "../scripts/metrics_clip_tiny.py"


# One rule for the two COCO evaluations of an experiment's images: boxes (detector_box) and masks (detector_mask).
rule coco_ap:
    input:
        unpack(metric_inputs(lambda wc: f"coco_{wc.iou_type}")),
    output:
        run_path("metrics/{experiment}/coco_{iou_type}.json"),
    log:
        log_file("metrics/coco_{iou_type}/{experiment}"),
    benchmark:
        BENCH("metrics/coco_{iou_type}/{experiment}")
    wildcard_constraints:
        iou_type="bbox|segm",
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # measured 2.3 GB peak (benchmarks/README.md); max_det 300 can triple it
        runtime=60,
    params:
        env=ENV("eval"),
        code=CODE("metrics_coco"),
        iou_type=lambda wc: wc.iou_type,
        bootstrap=config["report"].get("bootstrap", {}),
    script:
        "../scripts/metrics_coco.py"


rule coco_bbox_segmodel:
    input:
        unpack(metric_inputs("coco_bbox_segmodel")),
    output:
        run_path("metrics/{experiment}/coco_bbox_segmodel.json"),
    log:
        log_file("metrics/coco_bbox_segmodel/{experiment}"),
    benchmark:
        BENCH("metrics/coco_bbox_segmodel/{experiment}")
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # as coco_bbox: the same evaluation on the seg model's boxes
        runtime=60,
    params:
        env=ENV("eval"),
        code=CODE("metrics_coco"),
        iou_type="bbox",
        bootstrap=config["report"].get("bootstrap", {}),
        metric="coco_bbox_segmodel",
    script:
        "../scripts/metrics_coco.py"


# PiM of points or scribbles, as the paper computed it (variant paper) and corrected (reference notes).
rule pim:
    input:
        unpack(metric_inputs("pim")),
    output:
        run_path("metrics/{experiment}/pim_{mode}_{variant}.json"),
    log:
        log_file("metrics/pim_{mode}_{variant}/{experiment}"),
    benchmark:
        BENCH("metrics/pim_{mode}_{variant}/{experiment}")
    wildcard_constraints:
        variant="paper|corrected",
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # measured 2.3 GB peak (benchmarks/README.md); max_det 300 can triple it
        runtime=60,
    params:
        env=ENV("eval"),
        code=CODE("metrics_pim"),
        variant=lambda wc: wc.variant,
        run_seed=lambda wc: experiment_seed(wc.experiment),
    script:
        "../scripts/metrics_pim.py"


# Attribute binding of the colour / texture experiments: CLIP on the ground-truth boxes (attribute_gt.json) and on
# the detections that match them (attribute_detected.json, at detection.attribute_conf). One job writes both: the
# metric always asks for both files, and loading open_clip is most of each variant's CPU.
rule attribute:
    input:
        unpack(metric_inputs("attribute")),
        clip=clip_path(),
    output:
        gt=run_path("metrics/{experiment}/attribute_gt.json"),
        detected=run_path("metrics/{experiment}/attribute_detected.json"),
    log:
        log_file("metrics/attribute/{experiment}"),
    benchmark:
        BENCH("metrics/attribute/{experiment}")
    conda:
        conda_env("clip")
    threads: cores(2)
    resources:
        mem_mb=16000,  # one model, one variant's crops at a time: as when each variant was its own job
        runtime=240,  # both variants' passes (120 each when they were separate jobs)
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        env=ENV("clip"),
        code=CODE("metrics_attribute"),
        device=DEVICE,
        attribute=lambda wc: attribute_of(wc.experiment),
        conf=config["detection"].get("attribute_conf", 0.3),
    script:
        "../scripts/metrics_attribute.py"


# Per-instance records of a generated or external experiment (instdiff/metrics/instances.py): each conditioned
# instance with its matched detection and IoU, its PiM hit and its attribute hit, for other harnesses to re-aggregate.
rule instances:
    input:
        unpack(instance_inputs),
    output:
        run_path("metrics/{experiment}/instances.jsonl"),
    log:
        log_file("metrics/instances/{experiment}"),
    benchmark:
        BENCH("metrics/instances/{experiment}")
    wildcard_constraints:
        experiment=one_of(instance_experiments()),
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # as PiM: the segmentation results of every image
        runtime=60,
    params:
        env=ENV("eval"),
        code=CODE("metrics_instances"),
        detector=lambda wc: config["models"][instance_detector(wc.experiment)],
        conf=config["detection"].get("attribute_conf", 0.3),
    script:
        "../scripts/metrics_instances.py"


# -------------------- FID / KID

# FID / KID: the Inception weights (models), the cached real-image reference features, and one metric file per
# experiment. Settings: config["fid"] (config/schema/fid.schema.yaml).
from instdiff.metrics.fid import INCEPTION_URL

# Release: torch-fidelity's converted TF Inception, shared by runs. Smoke: random weights of the same architecture.
INCEPTION_WEIGHTS = (
    run_path("models/inception/random-inception-v3-compat.pth")
    if SMOKE
    else resource_path(f"models/inception/{INCEPTION_URL.rsplit('/', 1)[1]}")
)
INCEPTION_SHA256 = f"{INCEPTION_WEIGHTS.rsplit('.', 1)[0]}.sha256.json"
# The schema fills defaults; these cover a section validated without them.
FID_DEFAULTS = {
    "feature": 2048,
    "resize": "tf1",
    "resolution": 512,
    "batch_size": 32,
    "kid_subsets": 100,
    "kid_subset_size": 1000,
    "jpeg_quality": 75,
    "seed": 0,
    "random_inception_seed": 0,
}
FID = {**FID_DEFAULTS, **config["fid"]}


if SMOKE:

    rule inception_weights:
        output:
            weights=INCEPTION_WEIGHTS,
            sha256=INCEPTION_SHA256,
        log:
            log_file("inception_weights"),
        benchmark:
            BENCH("inception_weights")
        priority: CRITICAL_PATH_PRIORITY
        conda:
            conda_env("eval")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            env=ENV("eval"),
            code=CODE("metrics_inception_random"),
            seed=FID["random_inception_seed"],
        script:
            "../scripts/metrics_inception_random.py"

else:

    localrules:
        inception_weights,

    rule inception_weights:
        output:
            weights=INCEPTION_WEIGHTS,
            sha256=INCEPTION_SHA256,
        log:
            log_file("inception_weights"),
        benchmark:
            BENCH("inception_weights")
        retries: 3
        conda:
            conda_env("eval")
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            env=ENV("eval"),
            code=CODE("metrics_inception_download"),
            url=INCEPTION_URL,
        script:
            "../scripts/metrics_inception_download.py"


rule fid_reference:
    input:
        real=run_path(f"images/{REAL_EXPERIMENT}/done.json"),
        weights=INCEPTION_WEIGHTS,
    output:
        run_path("fid/reference.npz"),
    log:
        log_file("fid_reference"),
    benchmark:
        BENCH("fid_reference")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("eval")
    threads: cores(4)
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        env=ENV("eval"),
        code=CODE("metrics_fid_reference"),
        device=DEVICE,
        feature=FID["feature"],
        resize=FID["resize"],
        resolution=FID["resolution"],
        batch_size=FID["batch_size"],
    script:
        "../scripts/metrics_fid_reference.py"


rule fid:
    input:
        images=run_path("images/{experiment}/done.json"),
        reference=run_path("fid/reference.npz"),
        weights=INCEPTION_WEIGHTS,
        manifest=lambda wc: experiment_manifest_path(wc.experiment),
    output:
        run_path("metrics/{experiment}/fid.json"),
    log:
        log_file("fid/{experiment}"),
    benchmark:
        BENCH("fid/{experiment}")
    conda:
        conda_env("eval")
    threads: cores(4)
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        env=ENV("eval"),
        code=CODE("metrics_fid"),
        device=DEVICE,
        feature=FID["feature"],
        resize=FID["resize"],
        resolution=FID["resolution"],
        kid_subsets=FID["kid_subsets"],
        kid_subset_size=FID["kid_subset_size"],
        jpeg_quality=FID["jpeg_quality"],
        batch_size=FID["batch_size"],
        seed=FID["seed"],
    script:
        "../scripts/metrics_fid.py"
