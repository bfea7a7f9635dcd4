"""Snakemake entry point of rule `generate`: one shard of one experiment (see rules/generation.smk)."""

from instdiff.generation.shard import ShardJob
from instdiff.core.device import require
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
ShardJob(
    layouts_path=snakemake.input.layouts,  # noqa: F821
    model_dir=snakemake.input.model,  # noqa: F821
    out_dir=snakemake.params.out_dir,  # noqa: F821
    manifest_path=snakemake.output.manifest,  # noqa: F821
    experiment=snakemake.wildcards.experiment,  # noqa: F821
    shard=snakemake.params.shard,  # noqa: F821
    nshards=snakemake.params.nshards,  # noqa: F821
    run_seed=snakemake.params.run_seed,  # noqa: F821
    settings=dict(snakemake.params.settings),  # noqa: F821
    image_format=snakemake.params.image_format,  # noqa: F821
    precision=snakemake.params.precision,  # noqa: F821
    refiner=snakemake.params.refiner,  # noqa: F821
    device=require(snakemake.params.device),  # noqa: F821
    group_size=snakemake.params.group_size,  # noqa: F821
    torch_threads=snakemake.params.torch_threads,  # noqa: F821
    model=snakemake.params.model,  # noqa: F821
    seed_experiment=snakemake.params.seed_experiment,  # noqa: F821
).run()
