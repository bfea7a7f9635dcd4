# FID / KID: the Inception weights (models), the cached real-image reference features, and one metric file per
# experiment. Settings: config["fid"] (config/schema/fid.schema.yaml).
from instdiff.metrics.fid import INCEPTION_URL

# Release: torch-fidelity's converted TF Inception, shared by runs. Smoke: random weights of the same architecture.
INCEPTION_WEIGHTS = (
    R("models/inception/random-inception-v3-compat.pth")
    if SMOKE
    else RES(f"models/inception/{INCEPTION_URL.rsplit('/', 1)[1]}")
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
            LOG("inception_weights"),
        benchmark:
            BENCH("inception_weights")
        conda:
            ENV("eval")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            code=CODE("inception_random"),
            seed=FID["random_inception_seed"],
        script:
            "../scripts/inception_random.py"

else:

    localrules:
        inception_weights,

    rule inception_weights:
        output:
            weights=INCEPTION_WEIGHTS,
            sha256=INCEPTION_SHA256,
        log:
            LOG("inception_weights"),
        benchmark:
            BENCH("inception_weights")
        retries: 3
        conda:
            ENV("eval")
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            code=CODE("inception_download"),
            url=INCEPTION_URL,
        script:
            "../scripts/inception_download.py"


rule fid_reference:
    input:
        real=R(f"images/{REAL_EXPERIMENT}/done.json"),
        weights=INCEPTION_WEIGHTS,
    output:
        R("fid/reference.npz"),
    log:
        LOG("fid_reference"),
    benchmark:
        BENCH("fid_reference")
    conda:
        ENV("eval")
    threads: cores(4)
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        code=CODE("fid_reference"),
        device=DEVICE,
        feature=FID["feature"],
        resize=FID["resize"],
        resolution=FID["resolution"],
        batch_size=FID["batch_size"],
    script:
        "../scripts/fid_reference.py"


rule fid:
    input:
        images=R("images/{experiment}/done.json"),
        reference=R("fid/reference.npz"),
        weights=INCEPTION_WEIGHTS,
        manifest=R("manifest.json"),
    output:
        R("metrics/{experiment}/fid.json"),
    log:
        LOG("fid/{experiment}"),
    benchmark:
        BENCH("fid/{experiment}")
    conda:
        ENV("eval")
    threads: cores(4)
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
    params:
        code=CODE("fid"),
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
        "../scripts/fid.py"
