"""Snakemake entry point of rule `llm_tiny_scorer` (rules/llm.smk): a tiny random detector for the smoke run."""

from instdiff.llm.scorers.tiny import build_tiny_scorer
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
build_tiny_scorer(snakemake.params.kind, snakemake.output[0], snakemake.params.seed)  # noqa: F821
