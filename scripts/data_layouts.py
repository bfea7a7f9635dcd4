"""Snakemake entry point of rule `layouts`: layouts/{experiment}.jsonl per the paper protocol."""

from instdiff.data.coco import write_experiment_layouts
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write_experiment_layouts(
    snakemake.input.instances,  # noqa: F821
    snakemake.input.captions,  # noqa: F821
    snakemake.output[0],  # noqa: F821
    settings=snakemake.params.settings,  # noqa: F821
    run_seed=snakemake.params.seed,  # noqa: F821
    experiment=snakemake.wildcards.experiment,  # noqa: F821
    quirks=snakemake.params.quirks,  # noqa: F821
    max_images=snakemake.params.max_images,  # noqa: F821
)
