"""Rule figure_per_category: per-category AP from the COCO metric files' per_category key."""
from instdiff.logging_setup import from_snakemake
from instdiff.report.figures import per_category_ap

from_snakemake(snakemake)
per_category_ap(list(snakemake.input.metrics), [snakemake.output.png, snakemake.output.pdf])
