# Detection stage: YOLOv8 detectors (release download, or the shipped tiny ones trained on the synthetic set) and
# their COCO results per experiment.
# Paths: smoke models live in the run (results/{run}/models/...), release models in the shared resources folder.


include: "metrics_common.smk"


wildcard_constraints:
    detector="[A-Za-z0-9]+(-seg)?",


rule yolo_download:
    output:
        weights=RES("models/yolo/{detector}.pt"),
        record=RES("models/yolo/{detector}.pt.json"),
    params:
        expected_sha256=lambda wc: config["models"].get("sha256", {}).get(wc.detector),
    localrule: True
    retries: 2
    log:
        LOG("models/yolo_download/{detector}"),
    conda:
        ENV("detect")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/yolo_download.py"


rule yolo_tiny:
    output:
        weights=R("models/yolo/{detector}.pt"),
        record=R("models/yolo/{detector}.pt.json"),
    log:
        LOG("models/yolo_tiny/{detector}"),
    conda:
        ENV("detect")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/yolo_tiny.py"


rule detect:
    input:
        model=lambda wc: yolo_path(wc.detector),
        images=R("images/{experiment}/done.json"),
        annotations=R("data/annotations_512.json"),
        layouts=R("layouts/{experiment}.jsonl"),
    output:
        R("detections/{experiment}/{detector}.json"),
    params:
        settings=config["detection"],
    log:
        LOG("detect/{experiment}/{detector}"),
    conda:
        ENV("detect")
    threads: 2
    resources:
        mem_mb=by_attempt(8000),
        runtime=by_attempt(120),
        gpu=0 if SMOKE else 1,
    script:
        "../scripts/detect.py"
