# Evaluation stage: the CLIP model for attribute binding and one rule per metric file
# (metrics/{experiment}/{metric}.json, docs/architecture.md). Every metric file embeds the run manifest.


wildcard_constraints:
    mode="point|scribble",


rule clip_download:
    output:
        weights=RES(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt"),
        record=RES(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt.json"),
    params:
        arch=CLIP["arch"],
        pretrained=CLIP["pretrained"],
        expected_sha256=config["models"].get("sha256", {}).get(f"{CLIP['arch']}_{CLIP['pretrained']}"),
    localrule: True
    retries: 2
    log:
        LOG("models/clip_download"),
    conda:
        ENV("clip")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/clip_download.py"


rule clip_tiny:
    output:
        weights=R("models/clip/tiny-clip.pt"),
        record=R("models/clip/tiny-clip.pt.json"),
    params:
        seed=config["seed"],
    log:
        LOG("models/clip_tiny"),
    conda:
        ENV("clip")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/clip_tiny.py"


rule coco_bbox:
    input:
        unpack(metric_inputs("coco_bbox")),
    output:
        R("metrics/{experiment}/coco_bbox.json"),
    params:
        iou_type="bbox",
        bootstrap=config["report"].get("bootstrap", {}),
    log:
        LOG("metrics/coco_bbox/{experiment}"),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/coco_metric.py"


rule coco_segm:
    input:
        unpack(metric_inputs("coco_segm")),
    output:
        R("metrics/{experiment}/coco_segm.json"),
    params:
        iou_type="segm",
        bootstrap=config["report"].get("bootstrap", {}),
    log:
        LOG("metrics/coco_segm/{experiment}"),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/coco_metric.py"


rule coco_bbox_segmodel:
    input:
        unpack(metric_inputs("coco_bbox_segmodel")),
    output:
        R("metrics/{experiment}/coco_bbox_segmodel.json"),
    params:
        iou_type="bbox",
        metric="coco_bbox_segmodel",
        bootstrap=config["report"].get("bootstrap", {}),
    log:
        LOG("metrics/coco_bbox_segmodel/{experiment}"),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/coco_metric.py"


rule pim_paper:
    input:
        unpack(metric_inputs("pim")),
    output:
        R("metrics/{experiment}/pim_{mode}_paper.json"),
    params:
        variant="paper",
        run_seed=lambda wc: experiment_seed(wc.experiment),
    log:
        LOG("metrics/pim_{mode}_paper/{experiment}"),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/pim_metric.py"


rule pim_corrected:
    input:
        unpack(metric_inputs("pim")),
    output:
        R("metrics/{experiment}/pim_{mode}_corrected.json"),
    params:
        variant="corrected",
        run_seed=lambda wc: experiment_seed(wc.experiment),
    log:
        LOG("metrics/pim_{mode}_corrected/{experiment}"),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/pim_metric.py"


rule attribute_gt:
    input:
        unpack(metric_inputs(None)),
        clip=clip_path(),
    output:
        R("metrics/{experiment}/attribute_gt.json"),
    params:
        variant="gt",
        attribute=lambda wc: attribute_of(wc.experiment),
    log:
        LOG("metrics/attribute_gt/{experiment}"),
    conda:
        ENV("clip")
    threads: 2
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=0 if SMOKE else 1,
    script:
        "../scripts/attribute_metric.py"


rule attribute_detected:
    input:
        unpack(metric_inputs("attribute")),
        clip=clip_path(),
    output:
        R("metrics/{experiment}/attribute_detected.json"),
    params:
        variant="detected",
        attribute=lambda wc: attribute_of(wc.experiment),
        conf=config["detection"].get("attribute_conf", 0.3),
    log:
        LOG("metrics/attribute_detected/{experiment}"),
    conda:
        ENV("clip")
    threads: 2
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=0 if SMOKE else 1,
    script:
        "../scripts/attribute_metric.py"
