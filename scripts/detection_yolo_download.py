"""Snakemake entry point: download a release YOLOv8 checkpoint and record its SHA256."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.detection.yolo_models import download

from_snakemake(snakemake)
download(snakemake.wildcards.detector, snakemake.output.weights, expected_sha256=snakemake.params.expected_sha256)
