"""Rule inception_weights (smoke): random weights of torch-fidelity's InceptionV3, same keys and shapes."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.fid import write_random_inception

from_snakemake(snakemake)
write_random_inception(snakemake.output.weights, snakemake.output.sha256, seed=snakemake.params.seed)
