"""Rule fid_reference: cache the real images' Inception features once."""
from instdiff.core.device import require
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.fid import reference_statistics

from_snakemake(snakemake)
p = snakemake.params
reference_statistics(snakemake.input.real, snakemake.input.weights, snakemake.output[0], feature=p.feature,
                     resize=p.resize, resolution=p.resolution, batch_size=p.batch_size, device=require(p.device))
