# Data stage: COCO val2017 (official zips, checksummed) or the synthetic smoke set -> data/annotations_512.json ->
# layouts/{experiment}.jsonl; and the real images squashed to 512x512 (the upper-bound row, experiment kind "real").
#
# Contract: layouts/{experiment}.jsonl holds one instdiff.layout.Layout per image, sorted by image id (id = the
# COCO image id as a string). Real-image experiments end with images/{experiment}/done.json, the same record the
# generate stage writes: {"experiment", "images": [{"id", "file"}], "n", "n_images"}.

import re

COCO_ZIPS = ["val2017.zip", "annotations_trainval2017.zip"]
SUPPLIED_512 = config["data"].get("annotations_512")


# Where the unzipped official files (data.source: coco) or their synthetic stand-in (synthetic) live.
COCO_SOURCE = (
    R("data/source") if config["data"]["source"] == "synthetic" else RES("coco")
)


localrules:
    download_coco,
    unzip_coco,


rule download_coco:
    output:
        RES("coco/{zipname}"),
    log:
        LOG("download_coco/{zipname}"),
    benchmark:
        BENCH("download_coco/{zipname}")
    wildcard_constraints:
        zipname="|".join(re.escape(z) for z in COCO_ZIPS),
    retries: 3
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=500,
        runtime=120,
    params:
        code=CODE("download_coco"),
        name="{zipname}",
    script:
        "../scripts/download_coco.py"


rule unzip_coco:
    input:
        images=RES("coco/val2017.zip"),
        annotations=RES("coco/annotations_trainval2017.zip"),
    output:
        images=directory(RES("coco/val2017")),
        instances=RES("coco/annotations/instances_val2017.json"),
        captions=RES("coco/annotations/captions_val2017.json"),
    log:
        LOG("unzip_coco/unzip_coco"),
    benchmark:
        BENCH("unzip_coco/unzip_coco")
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        code=CODE("unzip_coco"),
        dest=lambda wc, output: parent_dir(output.instances, 2),
    script:
        "../scripts/unzip_coco.py"


rule synthetic_coco:
    output:
        instances=R("data/source/annotations/instances_val2017.json"),
        captions=R("data/source/annotations/captions_val2017.json"),
        images=directory(R("data/source/val2017")),
    log:
        LOG("synthetic_coco/synthetic_coco"),
    benchmark:
        BENCH("synthetic_coco/synthetic_coco")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        ENV("eval")
    threads: 1
    priority: CRITICAL_PATH_PRIORITY
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=CODE("synthetic_coco"),
        dest=lambda wc, output: parent_dir(output.instances, 2),
        seed=config["seed"],
    script:
        "../scripts/synthetic_coco.py"


rule annotations_512:
    input:
        **({"supplied": SUPPLIED_512} if SUPPLIED_512 else {}),
        instances=f"{COCO_SOURCE}/annotations/instances_val2017.json",
    output:
        **({"report": R("data/annotations_512_report.json")} if SUPPLIED_512 else {}),
        annotations=R("data/annotations_512.json"),
    log:
        LOG("annotations_512/annotations_512"),
    benchmark:
        BENCH("annotations_512/annotations_512")
    conda:
        ENV("eval")
    threads: 1
    priority: CRITICAL_PATH_PRIORITY
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        code=CODE("annotations_512"),
    script:
        "../scripts/annotations_512.py"


rule layouts:
    input:
        instances=R("data/annotations_512.json"),
        captions=f"{COCO_SOURCE}/annotations/captions_val2017.json",
    output:
        R("layouts/{experiment}.jsonl"),
    log:
        LOG("layouts/{experiment}"),
    benchmark:
        BENCH("layouts/{experiment}")
    wildcard_constraints:
        experiment=one_of(layout_experiments("coco")),
    conda:
        ENV("eval")
    threads: 1
    priority: CRITICAL_PATH_PRIORITY
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        code=CODE("layouts"),
        # only the settings that shape a layout, so unrelated config edits do not rebuild layouts
        settings=lambda wc: {
            "use_captions": bool(EXPERIMENTS[wc.experiment].get("use_captions", True)),
            "attributes": list(EXPERIMENTS[wc.experiment].get("attributes", [])),
        },
        seed=lambda wc: experiment_seed(wc.experiment),
        quirks=stable(config["data"].get("quirks", {})),
        max_images=config["data"].get("max_images"),
    script:
        "../scripts/layouts.py"


rule real_images:
    input:
        # native images are checked against the sizes of the official file (the 512 file says 512x512 for all)
        instances=lambda wc: (
            f"{COCO_SOURCE}/annotations/instances_val2017.json"
            if EXPERIMENTS[wc.experiment].get("resolution", "squashed512") == "native"
            else R("data/annotations_512.json")
        ),
        images=f"{COCO_SOURCE}/val2017",
    output:
        done=R("images/{experiment}/done.json"),
    log:
        LOG("real_images/{experiment}"),
    benchmark:
        BENCH("real_images/{experiment}")
    wildcard_constraints:
        experiment=one_of(real_experiments()),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        code=CODE("real_images"),
        out_dir=lambda wc, output: parent_dir(output.done),
        max_images=config["data"].get("max_images"),
        resolution=lambda wc: EXPERIMENTS[wc.experiment].get(
            "resolution", "squashed512"
        ),
    script:
        "../scripts/real_images.py"
