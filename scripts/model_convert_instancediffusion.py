"""Snakemake entry point of rule `convert_instancediffusion`: original checkpoint -> diffusers-style folder."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.model.convert import convert_named

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
convert_named(snakemake.input.checkpoint, snakemake.input.tokenizer, snakemake.output[0], snakemake.params.size)  # noqa: F821
