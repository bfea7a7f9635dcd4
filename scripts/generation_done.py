"""Snakemake entry point of rule `generate_done`: check every image exists and write images/{experiment}/done.json."""

from instdiff.generation.shard import finalize
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
finalize(
    layouts_path=snakemake.input.layouts,  # noqa: F821
    manifests=list(snakemake.input.manifests),  # noqa: F821
    out_dir=snakemake.params.out_dir,  # noqa: F821
    done_path=snakemake.output.done,  # noqa: F821
    experiment=snakemake.wildcards.experiment,  # noqa: F821
)
