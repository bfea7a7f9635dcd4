"""Snakemake entry point of rule `llm_grounding_metrics` (rules/llm.smk)."""

from instdiff.llm.evaluate import grounding_metric_file
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
grounding_metric_file(
    layouts_path=snakemake.input.layouts,  # noqa: F821
    detections=dict(zip(snakemake.params.variants, snakemake.input.detections)),  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    scorer=snakemake.wildcards.scorer,  # noqa: F821
    matching=snakemake.params.matching,  # noqa: F821
)
