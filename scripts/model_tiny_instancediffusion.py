"""Snakemake entry point of rule `tiny_instancediffusion`: the tiny smoke model in the original checkpoint format."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.model.tiny import write_tiny_checkpoint

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write_tiny_checkpoint(snakemake.output.checkpoint, snakemake.output.tokenizer, seed=snakemake.params.seed)  # noqa: F821
