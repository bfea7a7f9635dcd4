# Data stage: COCO val2017 (official zips, checksummed) or the synthetic smoke set -> data/annotations_512.json ->
# layouts/{experiment}.jsonl; and the real images squashed to 512x512 (the upper-bound row, experiment kind "real").
#
# Contract: layouts/{experiment}.jsonl holds one instdiff.core.layout.Layout per image, sorted by image id (id = the
# COCO image id as a string). Real-image experiments end with images/{experiment}/done.json, the same record the
# generate stage writes: {"experiment", "images": [{"id", "file"}], "n", "n_images"}.

import re

COCO_ZIPS = ["val2017.zip", "annotations_trainval2017.zip"]
SUPPLIED_512 = config["data"].get("annotations_512")


# Where the unzipped official files (data.source: coco) or their synthetic stand-in (synthetic) live.
COCO_SOURCE = (
    run_path("data/source")
    if config["data"]["source"] == "synthetic"
    else resource_path("coco")
)


localrules:
    download_coco,
    unzip_coco,


rule download_coco:
    output:
        resource_path("coco/{zipname}"),
    log:
        log_file("download_coco/{zipname}"),
    benchmark:
        BENCH("download_coco/{zipname}")
    wildcard_constraints:
        zipname="|".join(re.escape(z) for z in COCO_ZIPS),
    retries: 3
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=500,
        runtime=120,
    params:
        env=ENV("eval"),
        code=CODE("data_download_coco"),
        name="{zipname}",
    script:
        "../scripts/data_download_coco.py"


rule unzip_coco:
    input:
        images=resource_path("coco/val2017.zip"),
        annotations=resource_path("coco/annotations_trainval2017.zip"),
    output:
        images=directory(resource_path("coco/val2017")),
        instances=resource_path("coco/annotations/instances_val2017.json"),
        captions=resource_path("coco/annotations/captions_val2017.json"),
    log:
        log_file("unzip_coco/unzip_coco"),
    benchmark:
        BENCH("unzip_coco/unzip_coco")
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        env=ENV("eval"),
        code=CODE("data_unzip_coco"),
        dest=lambda wc, output: parent_dir(output.instances, 2),
    script:
        "../scripts/data_unzip_coco.py"


rule synthetic_coco:
    output:
        instances=run_path("data/source/annotations/instances_val2017.json"),
        captions=run_path("data/source/annotations/captions_val2017.json"),
        images=directory(run_path("data/source/val2017")),
    log:
        log_file("synthetic_coco/synthetic_coco"),
    benchmark:
        BENCH("synthetic_coco/synthetic_coco")
    priority: CRITICAL_PATH_PRIORITY
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        env=ENV("eval"),
        code=CODE("data_synthetic_coco"),
        dest=lambda wc, output: parent_dir(output.instances, 2),
        seed=config["seed"],
    script:
        "../scripts/data_synthetic_coco.py"


rule annotations_512:
    input:
        **({"supplied": SUPPLIED_512} if SUPPLIED_512 else {}),
        instances=f"{COCO_SOURCE}/annotations/instances_val2017.json",
    output:
        **(
            {"report": run_path("data/annotations_512_report.json")}
            if SUPPLIED_512
            else {}
        ),
        annotations=run_path("data/annotations_512.json"),
    log:
        log_file("annotations_512/annotations_512"),
    benchmark:
        BENCH("annotations_512/annotations_512")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        env=ENV("eval"),
        code=CODE("data_annotations_512"),
    script:
        "../scripts/data_annotations_512.py"


rule layouts:
    input:
        instances=run_path("data/annotations_512.json"),
        captions=f"{COCO_SOURCE}/annotations/captions_val2017.json",
    output:
        run_path("layouts/{experiment}.jsonl"),
    log:
        log_file("layouts/{experiment}"),
    benchmark:
        BENCH("layouts/{experiment}")
    wildcard_constraints:
        experiment=one_of(layout_experiments("coco")),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        env=ENV("eval"),
        code=CODE("data_layouts"),
        # only the settings that shape a layout, so unrelated config edits do not rebuild layouts
        settings=lambda wc: {
            "use_captions": bool(EXPERIMENTS[wc.experiment].get("use_captions", True)),
            "attributes": list(EXPERIMENTS[wc.experiment].get("attributes", [])),
        },
        seed=lambda wc: experiment_seed(wc.experiment),
        quirks=stable(config["data"].get("quirks", {})),
        max_images=config["data"].get("max_images"),
    script:
        "../scripts/data_layouts.py"


rule real_images:
    input:
        # native images are checked against the sizes of the official file (the 512 file says 512x512 for all)
        instances=lambda wc: (
            f"{COCO_SOURCE}/annotations/instances_val2017.json"
            if EXPERIMENTS[wc.experiment].get("resolution", "squashed512") == "native"
            else run_path("data/annotations_512.json")
        ),
        images=f"{COCO_SOURCE}/val2017",
    output:
        done=run_path("images/{experiment}/done.json"),
    log:
        log_file("real_images/{experiment}"),
    benchmark:
        BENCH("real_images/{experiment}")
    wildcard_constraints:
        experiment=one_of(real_experiments()),
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        env=ENV("eval"),
        code=CODE("data_real_images"),
        out_dir=lambda wc, output: parent_dir(output.done),
        max_images=config["data"].get("max_images"),
        resolution=lambda wc: EXPERIMENTS[wc.experiment].get(
            "resolution", "squashed512"
        ),
    script:
        "../scripts/data_real_images.py"


# -------------------- the null model

# Blank mid-grey images of an experiment's layouts (experiment kind "blank", instdiff/data/null_images.py): every
# metric scores them like any experiment, which gives each metric's floor under our detector and encoder.


rule null_images:
    input:
        layouts=run_path("layouts/{experiment}.jsonl"),
    output:
        done=run_path("images/{experiment}/done.json"),
    log:
        log_file("null_images/{experiment}"),
    benchmark:
        BENCH("null_images/{experiment}")
    wildcard_constraints:
        experiment=one_of(null_experiments()),
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        env=ENV("eval"),
        code=CODE("data_null_images"),
        out_dir=lambda wc, output: parent_dir(output.done),
    script:
        "../scripts/data_null_images.py"


# -------------------- hub checkpoints

# Hub checkpoints (SDXL refiner, Grounding DINO, OWLv2, CogVLM and its Vicuna tokenizer) fetched once at a pinned
# commit into resources/hub/<org>--<name>/ by a localrule on the submit host; compute jobs get the local folder and
# never reach the network. Set HF_HOME to project storage too (README): libraries cache other files there.
# Before anything is submitted (onstart and preflight_gaps, rules/common.smk), every download of the run must be
# pinned: a null or floating revision (or checksum) stops the run and names the config keys to set.


localrules:
    hub_snapshot,


rule hub_snapshot:
    output:
        snapshot=protected(directory(resource_path("hub/{name}"))),
        record=protected(resource_path("hub/{name}.json")),
    log:
        log_file("hub/{name}"),
    benchmark:
        BENCH("hub/{name}")
    wildcard_constraints:
        name=one_of(list(HUB)),
    retries: 2
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        env=ENV("llm"),
        repo=lambda wc: HUB[wc.name]["repo"],
        revision=lambda wc: HUB[wc.name]["revision"],
        config_key=lambda wc: HUB[wc.name]["key"],
    script:
        "../scripts/data_hub_snapshot.py"


# -------------------- JPEG copies

# JPEG-75 copies of an experiment's images (experiment kind "jpeg_copy", instdiff/data/jpeg_variant.py): the same images
# and layouts as the source experiment, in the format the paper scored; every metric rule scores them as usual.


rule jpeg_copy:
    input:
        images=lambda wc: run_path(f"images/{jpeg_source(wc.experiment)}/done.json"),
    output:
        done=run_path("images/{experiment}/done.json"),
    log:
        log_file("jpeg_copy/{experiment}"),
    benchmark:
        BENCH("jpeg_copy/{experiment}")
    wildcard_constraints:
        experiment=one_of(jpeg_experiments()),
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        env=ENV("eval"),
        code=CODE("data_jpeg_copy"),
        quality=lambda wc: int(EXPERIMENTS[wc.experiment].get("jpeg_quality", 75)),
    script:
        "../scripts/data_jpeg_copy.py"


rule jpeg_layouts:
    input:
        layouts=lambda wc: run_path(f"layouts/{jpeg_source(wc.experiment)}.jsonl"),
    output:
        run_path("layouts/{experiment}.jsonl"),
    log:
        log_file("jpeg_layouts/{experiment}"),
    benchmark:
        BENCH("jpeg_layouts/{experiment}")
    wildcard_constraints:
        experiment=one_of(jpeg_experiments()),
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("eval"),
        code=CODE("data_jpeg_layouts"),
    script:
        "../scripts/data_jpeg_layouts.py"


# A generated experiment with a `source` (GLIGEN beside InstanceDiffusion's box experiment) takes its source's
# layouts as they are: the same instances, captions and layout hashes, scored against the same annotations.
rule paired_layouts:
    input:
        layouts=lambda wc: run_path(f"layouts/{paired_source(wc.experiment)}.jsonl"),
    output:
        run_path("layouts/{experiment}.jsonl"),
    log:
        log_file("paired_layouts/{experiment}"),
    benchmark:
        BENCH("paired_layouts/{experiment}")
    wildcard_constraints:
        experiment=one_of(paired_experiments()),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("eval"),
        code=CODE("data_paired_layouts"),
    script:
        "../scripts/data_paired_layouts.py"


# -------------------- external images

# Images made elsewhere (experiment kind "external", instdiff/data/external.py): checked against the layouts of the
# experiment its `layouts:` names, copied byte for byte into images/{experiment}/ and listed in done.json, so every
# metric rule scores them as it scores ours. The folder and each file in it are inputs: adding, removing or replacing
# a file reruns the check (and what follows), nothing else.


rule external_images:
    input:
        folder=lambda wc: EXPERIMENTS[wc.experiment]["images"],
        files=lambda wc: external_files(wc.experiment),
        layouts=run_path("layouts/{experiment}.jsonl"),
    output:
        done=run_path("images/{experiment}/done.json"),
    log:
        log_file("external_images/{experiment}"),
    benchmark:
        BENCH("external_images/{experiment}")
    wildcard_constraints:
        experiment=one_of(external_experiments()),
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        env=ENV("eval"),
        code=CODE("data_external_images"),
        out_dir=lambda wc, output: parent_dir(output.done),
        label=lambda wc: EXPERIMENTS[wc.experiment]["label"],
        layouts_from=lambda wc: external_source(wc.experiment),
    script:
        "../scripts/data_external_images.py"


rule external_layouts:
    input:
        layouts=lambda wc: run_path(f"layouts/{external_source(wc.experiment)}.jsonl"),
    output:
        run_path("layouts/{experiment}.jsonl"),
    log:
        log_file("external_layouts/{experiment}"),
    benchmark:
        BENCH("external_layouts/{experiment}")
    wildcard_constraints:
        experiment=one_of(external_experiments()),
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("eval"),
        code=CODE("data_external_layouts"),
    script:
        "../scripts/data_external_layouts.py"
