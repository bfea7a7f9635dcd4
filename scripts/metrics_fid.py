"""Rule fid: FID / KID of one experiment's images against the cached reference."""
from instdiff.core.device import require
from instdiff.core.io import read_json
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.fid import FidSettings, compute_fid

from_snakemake(snakemake)
p = snakemake.params
settings = FidSettings(feature=p.feature, resize=p.resize, resolution=p.resolution, kid_subsets=p.kid_subsets,
                       kid_subset_size=p.kid_subset_size, seed=p.seed, jpeg_quality=p.jpeg_quality,
                       batch_size=p.batch_size, device=require(p.device))
compute_fid(snakemake.input.images, snakemake.input.reference, snakemake.input.weights, snakemake.output[0],
            settings=settings, manifest=read_json(snakemake.input.manifest), experiment=snakemake.wildcards.experiment)
