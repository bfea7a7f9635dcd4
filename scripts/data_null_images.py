"""Snakemake entry point of rule `null_images`: a mid-grey image per layout plus images/{experiment}/done.json."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.data.null_images import write_null_images

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write_null_images(
    snakemake.input.layouts,  # noqa: F821
    snakemake.params.out_dir,  # noqa: F821
    experiment=snakemake.wildcards.experiment,  # noqa: F821
)
