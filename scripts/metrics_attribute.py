"""Snakemake entry point: attribute_gt.json / attribute_detected.json of an experiment."""
from instdiff.core.device import require
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.files import attribute_file

from_snakemake(snakemake)
attribute_file(snakemake.input.annotations, snakemake.input.layouts, snakemake.input.images, snakemake.input.clip,
               snakemake.input.manifest, snakemake.output[0], snakemake.params.attribute,
               snakemake.wildcards.experiment, variant=snakemake.params.variant,
               detections=snakemake.input.get("detections"), device=require(snakemake.params.device),
               conf_threshold=snakemake.params.get("conf"))
