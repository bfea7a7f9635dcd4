"""Snakemake entry point of rule `llm_tiny_clip` (rules/llm.smk): a tiny random open_clip model for the smoke run,
in the format of the hub file rule llm_clip_download fetches, with that model's preprocessing."""

from instdiff.metrics.clip_models import build_tiny, release_preprocess
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
p = snakemake.params  # noqa: F821
build_tiny(snakemake.output.weights, p.seed, release_preprocess(p.arch, p.pretrained, "llm.clip.arch"))  # noqa: F821
