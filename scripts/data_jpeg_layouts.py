"""Rule jpeg_layouts: the source experiment's layouts, copied for its JPEG copy."""
from instdiff.data.jpeg_variant import copy_layouts
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)
copy_layouts(snakemake.input.layouts, snakemake.output[0])
