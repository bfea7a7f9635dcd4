"""Snakemake entry point of rule `generation_cost` (rules/report.smk): seconds per image per experiment."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.report.cost import write_cost_table

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write_cost_table(dict(zip(snakemake.params.experiments, snakemake.input.done)),  # noqa: F821
                 snakemake.params.images, snakemake.output.csv, snakemake.output.md)  # noqa: F821
