"""Snakemake entry point: build a tiny random YOLOv8 in the release checkpoint format."""
from instdiff.logging_setup import from_snakemake
from instdiff.yolo_models import build_tiny

from_snakemake(snakemake)
build_tiny(snakemake.wildcards.detector, snakemake.output.weights, seed=snakemake.params.seed)
