# Models stage: the InstanceDiffusion checkpoint (released file, or the tiny smoke model written in the same
# original format) -> a converted diffusers-style folder that the generate stage loads.
#
# Contract: INSTDIFF_MODEL = R("models/instancediffusion") holds instdiff_model.json, unet/, vae/, text_encoder/,
# tokenizer/; load it with instdiff.model.convert.load_components(folder, dtype, device).

INSTDIFF_MODEL = R("models/instancediffusion")

if SMOKE:
    INSTDIFF_CHECKPOINT = R("models/tiny/instancediffusion_tiny.pth")
    INSTDIFF_TOKENIZER = R("models/tiny/clip_tokenizer")

    rule tiny_instancediffusion:
        output:
            checkpoint=INSTDIFF_CHECKPOINT,
            tokenizer=directory(INSTDIFF_TOKENIZER),
        log:
            LOG("models/tiny_instancediffusion"),
        benchmark:
            BENCH("models/tiny_instancediffusion")
        priority: CRITICAL_PATH_PRIORITY
        retries: 0  # deterministic: a retry would fail the same way
        conda:
            ENV("generate")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            code=CODE("model_tiny_instancediffusion"),
            seed=config["seed"],
        script:
            "../scripts/model_tiny_instancediffusion.py"

else:
    INSTDIFF_CHECKPOINT = RES("models/instancediffusion_sd15.pth")
    INSTDIFF_TOKENIZER = RES("models/clip-vit-large-patch14-tokenizer")

    localrules:
        instancediffusion_checkpoint,

    rule instancediffusion_checkpoint:
        output:
            checkpoint=protected(INSTDIFF_CHECKPOINT),
            tokenizer=directory(INSTDIFF_TOKENIZER),
        log:
            LOG("models/instancediffusion_checkpoint"),
        benchmark:
            BENCH("models/instancediffusion_checkpoint")
        retries: 3
        conda:
            ENV("generate")
        threads: 1
        resources:
            mem_mb=1000,
            runtime=360,
        params:
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
        LOG("models/convert_instancediffusion"),
    benchmark:
        BENCH("models/convert_instancediffusion")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        ENV("generate")
    threads: cores(2)
    resources:
        mem_mb=2000 if SMOKE else 20000,
        runtime=10 if SMOKE else 60,
    params:
        code=CODE("model_convert_instancediffusion"),
        size="tiny" if SMOKE else "sd15",
    script:
        "../scripts/model_convert_instancediffusion.py"
