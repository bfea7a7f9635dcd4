# Evaluation stage: the CLIP model for attribute binding and one rule per metric file
# (metrics/{experiment}/{metric}.json, docs/architecture.md). Every metric file embeds the run manifest.


wildcard_constraints:
    mode="point|scribble",


rule clip_download:
    output:
        weights=RES(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt"),
        record=RES(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt.json"),
    log:
        LOG("models/clip_download"),
    benchmark:
        BENCH("models/clip_download")
    retries: 2
    localrule: True
    conda:
        ENV("clip")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        code=CODE("clip_download"),
        arch=CLIP["arch"],
        pretrained=CLIP["pretrained"],
        expected_sha256=config["models"]
        .get("sha256", {})
        .get(f"{CLIP['arch']}_{CLIP['pretrained']}"),
    script:
        "../scripts/clip_download.py"


rule clip_tiny:
    output:
        weights=R("models/clip/tiny-clip.pt"),
        record=R("models/clip/tiny-clip.pt.json"),
    log:
        LOG("models/clip_tiny"),
    benchmark:
        BENCH("models/clip_tiny")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        ENV("clip")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=CODE("clip_tiny"),
        seed=config["seed"],
    script:
        "../scripts/clip_tiny.py"


rule coco_bbox:
    input:
        unpack(metric_inputs("coco_bbox")),
    output:
        R("metrics/{experiment}/coco_bbox.json"),
    log:
        LOG("metrics/coco_bbox/{experiment}"),
    benchmark:
        BENCH("metrics/coco_bbox/{experiment}")
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # measured 2.3 GB peak (benchmarks/README.md); max_det 300 can triple it
        runtime=60,
    params:
        code=CODE("coco_metric"),
        iou_type="bbox",
        bootstrap=config["report"].get("bootstrap", {}),
    script:
        "../scripts/coco_metric.py"


rule coco_segm:
    input:
        unpack(metric_inputs("coco_segm")),
    output:
        R("metrics/{experiment}/coco_segm.json"),
    log:
        LOG("metrics/coco_segm/{experiment}"),
    benchmark:
        BENCH("metrics/coco_segm/{experiment}")
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # measured 2.3 GB peak (benchmarks/README.md); max_det 300 can triple it
        runtime=60,
    params:
        code=CODE("coco_metric"),
        iou_type="segm",
        bootstrap=config["report"].get("bootstrap", {}),
    script:
        "../scripts/coco_metric.py"


rule coco_bbox_segmodel:
    input:
        unpack(metric_inputs("coco_bbox_segmodel")),
    output:
        R("metrics/{experiment}/coco_bbox_segmodel.json"),
    log:
        LOG("metrics/coco_bbox_segmodel/{experiment}"),
    benchmark:
        BENCH("metrics/coco_bbox_segmodel/{experiment}")
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # as coco_bbox: the same evaluation on the seg model's boxes
        runtime=60,
    params:
        code=CODE("coco_metric"),
        iou_type="bbox",
        bootstrap=config["report"].get("bootstrap", {}),
        metric="coco_bbox_segmodel",
    script:
        "../scripts/coco_metric.py"


rule pim_paper:
    input:
        unpack(metric_inputs("pim")),
    output:
        R("metrics/{experiment}/pim_{mode}_paper.json"),
    log:
        LOG("metrics/pim_{mode}_paper/{experiment}"),
    benchmark:
        BENCH("metrics/pim_{mode}_paper/{experiment}")
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # measured 2.3 GB peak (benchmarks/README.md); max_det 300 can triple it
        runtime=60,
    params:
        code=CODE("pim_metric"),
        variant="paper",
        run_seed=lambda wc: experiment_seed(wc.experiment),
    script:
        "../scripts/pim_metric.py"


rule pim_corrected:
    input:
        unpack(metric_inputs("pim")),
    output:
        R("metrics/{experiment}/pim_{mode}_corrected.json"),
    log:
        LOG("metrics/pim_{mode}_corrected/{experiment}"),
    benchmark:
        BENCH("metrics/pim_{mode}_corrected/{experiment}")
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=by_attempt(6000),  # measured 2.3 GB peak (benchmarks/README.md); max_det 300 can triple it
        runtime=60,
    params:
        code=CODE("pim_metric"),
        variant="corrected",
        run_seed=lambda wc: experiment_seed(wc.experiment),
    script:
        "../scripts/pim_metric.py"


rule attribute_gt:
    input:
        unpack(metric_inputs(None)),
        clip=clip_path(),
    output:
        R("metrics/{experiment}/attribute_gt.json"),
    log:
        LOG("metrics/attribute_gt/{experiment}"),
    benchmark:
        BENCH("metrics/attribute_gt/{experiment}")
    conda:
        ENV("clip")
    threads: cores(2)
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        code=CODE("attribute_metric"),
        device=DEVICE,
        variant="gt",
        attribute=lambda wc: attribute_of(wc.experiment),
    script:
        "../scripts/attribute_metric.py"


rule attribute_detected:
    input:
        unpack(metric_inputs("attribute")),
        clip=clip_path(),
    output:
        R("metrics/{experiment}/attribute_detected.json"),
    log:
        LOG("metrics/attribute_detected/{experiment}"),
    benchmark:
        BENCH("metrics/attribute_detected/{experiment}")
    conda:
        ENV("clip")
    threads: cores(2)
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        code=CODE("attribute_metric"),
        device=DEVICE,
        variant="detected",
        attribute=lambda wc: attribute_of(wc.experiment),
        conf=config["detection"].get("attribute_conf", 0.3),
    script:
        "../scripts/attribute_metric.py"
