"""Snakemake entry point of rule `annotations_512`: derive the 512x512 file (and compare a supplied one)."""

from instdiff.data.coco import annotations_512
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
annotations_512(
    snakemake.input.instances,  # noqa: F821
    snakemake.output.annotations,  # noqa: F821
    supplied=snakemake.input.get("supplied"),  # noqa: F821
    report=snakemake.output.get("report"),  # noqa: F821
)
