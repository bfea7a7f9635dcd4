"""Snakemake entry point: build the tiny random open_clip model of the smoke run."""
from instdiff.metrics.clip_models import build_tiny
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)
build_tiny(snakemake.output.weights, seed=snakemake.params.seed)
