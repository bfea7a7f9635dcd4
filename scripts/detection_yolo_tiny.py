"""Snakemake entry point: copy the shipped tiny YOLOv8 (trained on the synthetic set) into the run."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.detection.yolo_models import build_tiny

from_snakemake(snakemake)
build_tiny(snakemake.wildcards.detector, snakemake.output.weights)
