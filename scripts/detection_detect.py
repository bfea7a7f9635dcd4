"""Snakemake entry point: detect an experiment's images into a COCO results JSON."""
from instdiff.detection.detect import run_detection
from instdiff.core.device import require
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)
run_detection(snakemake.input.model, snakemake.input.images, snakemake.input.annotations, snakemake.output[0],
              settings=dict(snakemake.params.settings), layouts_path=snakemake.input.layouts,
              device=require(snakemake.params.device))
