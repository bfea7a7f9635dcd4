"""Snakemake entry point of rule `llm_extension_files` (rules/llm.smk)."""

from instdiff.llm.extension_files import fetch_extension_files
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
fetch_extension_files(snakemake.params.out_dir)  # noqa: F821
