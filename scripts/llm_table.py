"""Snakemake entry point of rule `llm_table` (rules/llm.smk)."""

from instdiff.core.banner import run_banner
from instdiff.llm.table import llm_table
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
llm_table(
    grounding=list(snakemake.input.grounding),  # noqa: F821
    clip=snakemake.input.clip,  # noqa: F821
    legacy=snakemake.input.legacy,  # noqa: F821
    published=dict(snakemake.params.published),  # noqa: F821
    csv_path=snakemake.output.csv,  # noqa: F821
    md_path=snakemake.output.md,  # noqa: F821
    layouts=snakemake.input.layouts,  # noqa: F821
    banner=run_banner(snakemake.config),  # noqa: F821
)
