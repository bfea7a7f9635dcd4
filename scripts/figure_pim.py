"""Rule figure_pim: per-image PiM distributions."""
from instdiff.logging_setup import from_snakemake
from instdiff.report.figures import pim_distributions

from_snakemake(snakemake)
pim_distributions(list(snakemake.input.metrics), [snakemake.output.png, snakemake.output.pdf], snakemake.input.paper)
