"""Rule paired_layouts: the source experiment's layouts, copied for a second model run on the same inputs."""
from instdiff.data.jpeg_variant import copy_layouts
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
copy_layouts(snakemake.input.layouts, snakemake.output[0])  # noqa: F821
