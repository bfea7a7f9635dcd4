"""Rules table_*: one paper table from the run's metric files (csv, md, tex, html)."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.report.tables import make_table

from_snakemake(snakemake)
make_table(snakemake.params.name, snakemake.config, snakemake.params.metrics_dir, snakemake.input.paper,
           [*snakemake.output.tables, snakemake.output.html], manifest_path=snakemake.input.manifest)
