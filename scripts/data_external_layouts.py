"""Rule external_layouts: the layouts an external experiment's images follow, copied byte for byte."""
from instdiff.data.jpeg_variant import copy_layouts
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)
copy_layouts(snakemake.input.layouts, snakemake.output[0])
