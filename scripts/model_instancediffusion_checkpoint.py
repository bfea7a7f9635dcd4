"""Snakemake entry point of rule `instancediffusion_checkpoint`: the released checkpoint (SHA256) and CLIP tokenizer."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.model.release import download_release

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
download_release(snakemake.output.checkpoint, snakemake.output.tokenizer)  # noqa: F821
