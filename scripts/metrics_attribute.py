"""Snakemake entry point: attribute_gt.json and attribute_detected.json of an experiment (one CLIP load)."""
from instdiff.core.device import require
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.files import attribute_files

from_snakemake(snakemake)
attribute_files(snakemake.input.annotations, snakemake.input.layouts, snakemake.input.images, snakemake.input.clip,
                snakemake.input.manifest, {"gt": snakemake.output.gt, "detected": snakemake.output.detected},
                snakemake.params.attribute, snakemake.wildcards.experiment,
                detections=snakemake.input.detections, device=require(snakemake.params.device),
                conf_threshold=snakemake.params.conf)
