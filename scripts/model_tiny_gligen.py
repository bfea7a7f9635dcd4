"""Snakemake entry point of rule `tiny_gligen`: the smoke's stand-in for the GLIGEN hub snapshot (diffusers format)."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.model.tiny_gligen import write_tiny_gligen

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write_tiny_gligen(snakemake.output[0], seed=snakemake.params.seed)  # noqa: F821
