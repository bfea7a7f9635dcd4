"""Snakemake entry point of rule `download_coco`: one official COCO zip, MD5 and SHA256 verified."""

from instdiff.data.download import download_coco
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
download_coco(snakemake.params.name, snakemake.output[0])  # noqa: F821
