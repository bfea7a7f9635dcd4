"""Snakemake entry point: pim_{mode}_{variant}.json of an experiment."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.files import pim_file

from_snakemake(snakemake)
pim_file(snakemake.input.annotations, snakemake.input.detections, snakemake.input.images, snakemake.input.layouts,
         snakemake.input.manifest, snakemake.output[0], snakemake.wildcards.mode, snakemake.params.variant,
         snakemake.wildcards.experiment, run_seed=snakemake.params.run_seed)
