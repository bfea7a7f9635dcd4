"""Rule external_images: check a folder of images made elsewhere against its layouts, copy them, write done.json."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.data.external import external_images

from_snakemake(snakemake)
external_images(snakemake.input.layouts, snakemake.input.folder, snakemake.params.out_dir,
                snakemake.wildcards.experiment, snakemake.params.label, snakemake.params.layouts_from)
