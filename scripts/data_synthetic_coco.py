"""Snakemake entry point of rule `synthetic_coco`: the smoke run's COCO-format dataset."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.data.synthetic import write_synthetic_coco

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write_synthetic_coco(snakemake.params.dest, seed=snakemake.params.seed)  # noqa: F821
