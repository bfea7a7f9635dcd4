"""Snakemake entry point of rule `llm_grounding_legacy` (rules/llm.smk)."""

from instdiff.llm.evaluate import legacy_metric_file
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
legacy_metric_file(snakemake.input.pred, snakemake.input.gt, snakemake.output[0])  # noqa: F821
