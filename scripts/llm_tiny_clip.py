"""Snakemake entry point of rule `llm_tiny_clip` (rules/llm.smk): a tiny random open_clip model for the smoke run."""

from instdiff.logging_setup import from_snakemake
from instdiff.metrics.clipscore import build_tiny_clip

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
build_tiny_clip(snakemake.output[0], snakemake.params.seed)  # noqa: F821
