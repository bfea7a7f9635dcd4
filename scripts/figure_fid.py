"""Rule figure_fid: FID on the images as stored vs JPEG-75 copies."""
from instdiff.logging_setup import from_snakemake
from instdiff.report.figures import fid_vs_format
from instdiff.report.tables import stored_format

from_snakemake(snakemake)
fid_vs_format(list(snakemake.input.metrics), [snakemake.output.png, snakemake.output.pdf],
              stored=stored_format(snakemake.config))
