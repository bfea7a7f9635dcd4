"""Snakemake entry point of rule `real_images`: val2017 squashed to 512x512 PNG plus images/{experiment}/done.json."""

from instdiff.logging_setup import from_snakemake
from instdiff.real_images import real_images_512

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
real_images_512(
    snakemake.input.instances,  # noqa: F821
    snakemake.input.images,  # noqa: F821
    snakemake.params.out_dir,  # noqa: F821
    experiment=snakemake.wildcards.experiment,  # noqa: F821
    max_images=snakemake.params.max_images,  # noqa: F821
)
