# Detection stage: YOLOv8 detectors (release download, or the shipped tiny ones trained on the synthetic set) and
# their COCO results per experiment.
# Paths: smoke models live in the run (results/{run}/models/...), release models in the shared resources folder.


from instdiff.detection.yolo_models import shipped_tiny


rule yolo_download:
    output:
        weights=resource_path("models/yolo/{detector}.pt"),
        record=resource_path("models/yolo/{detector}.pt.json"),
    log:
        log_file("models/yolo_download/{detector}"),
    benchmark:
        BENCH("models/yolo_download/{detector}")
    retries: 2
    localrule: True
    conda:
        conda_env("detect")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        env=ENV("detect"),
        code=CODE("detection_yolo_download"),
        expected_sha256=lambda wc: config["models"].get("sha256", {}).get(wc.detector),
    script:
        "../scripts/detection_yolo_download.py"


rule yolo_tiny:
    output:
        weights=run_path("models/yolo/{detector}.pt"),
        record=run_path("models/yolo/{detector}.pt.json"),
    log:
        log_file("models/yolo_tiny/{detector}"),
    benchmark:
        BENCH("models/yolo_tiny/{detector}")
    priority: CRITICAL_PATH_PRIORITY
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("detect")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        env=ENV("detect"),
        code=CODE("detection_yolo_tiny"),
        # the shipped file's SHA256: retraining it (instdiff train-tiny-detector) reruns the copy and what follows
        shipped=lambda wc: shipped_tiny(wc.detector)["sha256"],
    script:
        "../scripts/detection_yolo_tiny.py"


rule detect:
    input:
        model=lambda wc: yolo_path(wc.detector),
        images=run_path("images/{experiment}/done.json"),
        annotations=lambda wc: annotations_for(wc.experiment),
        layouts=run_path("layouts/{experiment}.jsonl"),
    output:
        run_path("detections/{experiment}/{detector}.json"),
    log:
        log_file("detect/{experiment}/{detector}"),
    benchmark:
        BENCH("detect/{experiment}/{detector}")
    conda:
        conda_env("detect")
    threads: cores(2)
    resources:
        mem_mb=by_attempt(8000),
        runtime=by_attempt(120),
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        env=ENV("detect"),
        code=CODE("detection_detect"),
        device=DEVICE,
        settings=stable(config["detection"]),
    script:
        "../scripts/detection_detect.py"
