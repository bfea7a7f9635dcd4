# FID / KID: the Inception weights (models), the cached real-image reference features, and one metric file per
# experiment. Settings: config["fid"] (config/schema/fid.schema.yaml).
from instdiff.metrics.fid import INCEPTION_URL

FID = config["fid"]
# Release: torch-fidelity's converted TF Inception, shared by runs. Smoke: random weights of the same architecture.
INCEPTION_WEIGHTS = (
    R("models/inception/random-inception-v3-compat.pth")
    if SMOKE
    else RES("models/inception/" + INCEPTION_URL.rsplit("/", 1)[1])
)
INCEPTION_SHA256 = INCEPTION_WEIGHTS.rsplit(".", 1)[0] + ".sha256.json"


def fid_param(key, default):
    """A setting of config["fid"]; the schema fills defaults, this covers a section validated without them."""
    return FID[key] if key in FID else default


if SMOKE:

    rule inception_weights:
        output:
            weights=INCEPTION_WEIGHTS,
            sha256=INCEPTION_SHA256,
        params:
            seed=fid_param("random_inception_seed", 0),
        log:
            LOG("inception_weights"),
        conda:
            ENV("eval")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        script:
            "../scripts/inception_random.py"

else:

    localrules:
        inception_weights,

    rule inception_weights:
        output:
            weights=INCEPTION_WEIGHTS,
            sha256=INCEPTION_SHA256,
        params:
            url=INCEPTION_URL,
        log:
            LOG("inception_weights"),
        conda:
            ENV("eval")
        retries: 3
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        script:
            "../scripts/inception_download.py"


rule fid_reference:
    input:
        real=R(f"images/{REAL_EXPERIMENT}/done.json"),
        weights=INCEPTION_WEIGHTS,
    output:
        R("fid/reference.npz"),
    params:
        feature=fid_param("feature", 2048),
        resize=fid_param("resize", "tf1"),
        resolution=fid_param("resolution", 512),
        batch_size=fid_param("batch_size", 32),
    log:
        LOG("fid_reference"),
    conda:
        ENV("eval")
    threads: 4
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=0 if SMOKE else 1,
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
    params:
        feature=fid_param("feature", 2048),
        resize=fid_param("resize", "tf1"),
        resolution=fid_param("resolution", 512),
        kid_subsets=fid_param("kid_subsets", 100),
        kid_subset_size=fid_param("kid_subset_size", 1000),
        jpeg_quality=fid_param("jpeg_quality", 75),
        batch_size=fid_param("batch_size", 32),
        seed=fid_param("seed", 0),
    log:
        LOG("fid/{experiment}"),
    conda:
        ENV("eval")
    threads: 4
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=0 if SMOKE else 1,
    script:
        "../scripts/fid.py"
