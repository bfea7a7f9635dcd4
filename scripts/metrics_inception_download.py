"""Rule inception_weights (release): download torch-fidelity's Inception weights, checksum recorded."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.fid import download_inception

from_snakemake(snakemake)
download_inception(snakemake.output.weights, snakemake.output.sha256, url=snakemake.params.url)
