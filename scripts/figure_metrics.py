"""Rule figure_metrics: our numbers against the paper's, with 95% CIs."""
from instdiff.logging_setup import from_snakemake
from instdiff.report.figures import metrics_vs_paper

from_snakemake(snakemake)
metrics_vs_paper(snakemake.config, snakemake.params.metrics_dir, snakemake.input.paper,
                 [snakemake.output.png, snakemake.output.pdf])
