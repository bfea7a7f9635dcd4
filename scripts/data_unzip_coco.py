"""Snakemake entry point of rule `unzip_coco`: val2017/ and the two val2017 annotation files, extracted atomically."""

from instdiff.data.download import unzip_coco
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
unzip_coco(snakemake.input.images, snakemake.input.annotations, snakemake.params.dest)  # noqa: F821
