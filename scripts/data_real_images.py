"""Snakemake entry point of rule `real_images`: val2017 squashed to 512x512 PNG (or, at native resolution, the
original files listed as they are) plus images/{experiment}/done.json."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.data.real_images import real_images_512, real_images_native

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write = real_images_native if snakemake.params.resolution == "native" else real_images_512  # noqa: F821
write(
    snakemake.input.instances,  # noqa: F821
    snakemake.input.images,  # noqa: F821
    snakemake.params.out_dir,  # noqa: F821
    experiment=snakemake.wildcards.experiment,  # noqa: F821
    max_images=snakemake.params.max_images,  # noqa: F821
)
