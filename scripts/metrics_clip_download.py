"""Snakemake entry point: download the open_clip attribute-binding model and record its SHA256."""
from instdiff.metrics.clip_models import download
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)
download(snakemake.params.arch, snakemake.params.pretrained, snakemake.output.weights,
         expected_sha256=snakemake.params.expected_sha256)
