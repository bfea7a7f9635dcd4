"""Rule jpeg_copy: JPEG copies of the source experiment's images and their done.json."""
from instdiff.data.jpeg_variant import jpeg_copies
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)
jpeg_copies(snakemake.input.images, snakemake.output.done, snakemake.wildcards.experiment, snakemake.params.quality)
