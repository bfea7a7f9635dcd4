"""Snakemake entry point of rule `llm_visualize` (rules/llm.smk)."""

from instdiff.llm.visualize import draw_layouts
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
draw_layouts(snakemake.input.layouts, snakemake.params.out_dir)  # noqa: F821
