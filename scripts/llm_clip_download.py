"""Rule llm_clip_download (localrule): the CLIP weights of the global CLIP score at a pinned commit and sha256."""
from instdiff.metrics.clip_models import download_pinned
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
p = snakemake.params  # noqa: F821
download_pinned(p.arch, p.pretrained, snakemake.output.weights, p.revision, p.sha256, "llm.clip")  # noqa: F821
