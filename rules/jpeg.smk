# JPEG-75 copies of an experiment's images (experiment kind "jpeg_copy", instdiff/jpeg_variant.py): the same images
# and layouts as the source experiment, in the format the paper scored; every metric rule scores them as usual.


rule jpeg_copy:
    input:
        images=lambda wc: R(f"images/{jpeg_source(wc.experiment)}/done.json"),
    output:
        done=R("images/{experiment}/done.json"),
    log:
        LOG("jpeg_copy/{experiment}"),
    benchmark:
        BENCH("jpeg_copy/{experiment}")
    wildcard_constraints:
        experiment=one_of(jpeg_experiments()),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=CODE("jpeg_copy"),
        quality=lambda wc: int(EXPERIMENTS[wc.experiment].get("jpeg_quality", 75)),
    script:
        "../scripts/jpeg_copy.py"


rule jpeg_layouts:
    input:
        layouts=lambda wc: R(f"layouts/{jpeg_source(wc.experiment)}.jsonl"),
    output:
        R("layouts/{experiment}.jsonl"),
    log:
        LOG("jpeg_layouts/{experiment}"),
    benchmark:
        BENCH("jpeg_layouts/{experiment}")
    wildcard_constraints:
        experiment=one_of(jpeg_experiments()),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=CODE("jpeg_layouts"),
    script:
        "../scripts/jpeg_layouts.py"
