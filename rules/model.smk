# Models stage: the InstanceDiffusion checkpoint (released file, or the tiny smoke model written in the same
# original format) -> a converted diffusers-style folder that the generate stage loads.
#
# Contract: INSTDIFF_MODEL = run_path("models/instancediffusion") (rules/common.smk) holds instdiff_model.json, unet/,
# vae/, text_encoder/, tokenizer/; load it with instdiff.model.convert.load_components(folder, dtype, device).

if SMOKE:
    INSTDIFF_CHECKPOINT = run_path("models/tiny/instancediffusion_tiny.pth")
    INSTDIFF_TOKENIZER = run_path("models/tiny/clip_tokenizer")

    rule tiny_instancediffusion:
        output:
            checkpoint=INSTDIFF_CHECKPOINT,
            tokenizer=directory(INSTDIFF_TOKENIZER),
        log:
            log_file("models/tiny_instancediffusion"),
        benchmark:
            BENCH("models/tiny_instancediffusion")
        priority: CRITICAL_PATH_PRIORITY
        retries: 0  # deterministic: a retry would fail the same way
        conda:
            conda_env("generate")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            env=ENV("generate"),
            code=CODE("model_tiny_instancediffusion"),
            seed=config["seed"],
        script:
            "../scripts/model_tiny_instancediffusion.py"

else:
    INSTDIFF_CHECKPOINT = resource_path("models/instancediffusion_sd15.pth")
    INSTDIFF_TOKENIZER = resource_path("models/clip-vit-large-patch14-tokenizer")

    localrules:
        instancediffusion_checkpoint,

    rule instancediffusion_checkpoint:
        output:
            checkpoint=protected(INSTDIFF_CHECKPOINT),
            tokenizer=directory(INSTDIFF_TOKENIZER),
        log:
            log_file("models/instancediffusion_checkpoint"),
        benchmark:
            BENCH("models/instancediffusion_checkpoint")
        retries: 3
        conda:
            conda_env("generate")
        threads: 1
        resources:
            mem_mb=1000,
            runtime=360,
        params:
            env=ENV("generate"),
            code=CODE("model_instancediffusion_checkpoint"),
        script:
            "../scripts/model_instancediffusion_checkpoint.py"


rule convert_instancediffusion:
    input:
        checkpoint=INSTDIFF_CHECKPOINT,
        tokenizer=INSTDIFF_TOKENIZER,
    output:
        directory(INSTDIFF_MODEL),
    log:
        log_file("models/convert_instancediffusion"),
    benchmark:
        BENCH("models/convert_instancediffusion")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("generate")
    threads: cores(2)
    resources:
        mem_mb=2000 if SMOKE else 20000,
        runtime=10 if SMOKE else 60,
    params:
        env=ENV("generate"),
        code=CODE("model_convert_instancediffusion"),
        size="tiny" if SMOKE else "sd15",
    script:
        "../scripts/model_convert_instancediffusion.py"


# GLIGEN (experiments with model: gligen; instdiff/generation/gligen.py): a diffusers StableDiffusionGLIGENPipeline
# folder loaded with from_pretrained. A release run loads the hub snapshot of models.gligen (rule hub_snapshot,
# rules/data.smk, pinned); the smoke writes a tiny random pipeline in the same format in its place (GLIGEN_TINY and
# model_folder: rules/common.smk).

if SMOKE:

    rule tiny_gligen:
        output:
            directory(GLIGEN_TINY),
        log:
            log_file("models/tiny_gligen"),
        benchmark:
            BENCH("models/tiny_gligen")
        priority: CRITICAL_PATH_PRIORITY
        retries: 0  # deterministic: a retry would fail the same way
        conda:
            conda_env("generate")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            env=ENV("generate"),
            code=CODE("model_tiny_gligen"),
            seed=config["seed"],
        script:
            "../scripts/model_tiny_gligen.py"
