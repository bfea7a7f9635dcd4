"""Rule figure_qualitative: layout | generated | real for seeded-sampled images of one experiment."""
from instdiff.logging_setup import from_snakemake
from instdiff.report.figures import qualitative_grid

from_snakemake(snakemake)
qualitative_grid(snakemake.input.layouts, snakemake.input.generated, snakemake.input.real,
                 [snakemake.output.png, snakemake.output.pdf], snakemake.wildcards.experiment,
                 snakemake.params.run_seed, k=snakemake.params.k)
