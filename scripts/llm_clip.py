"""Snakemake entry point of rule `llm_clip` (rules/llm.smk)."""

from instdiff.llm.evaluate import clip_metric_file
from instdiff.device import require
from instdiff.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
clip_metric_file(
    layouts_path=snakemake.input.layouts,  # noqa: F821
    images_dir=snakemake.params.images_dir,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    settings=dict(snakemake.params.settings),  # noqa: F821
    variants=list(snakemake.params.variants),  # noqa: F821
    image_format=snakemake.params.image_format,  # noqa: F821
    run_seed=snakemake.params.seed,  # noqa: F821
    device=require(snakemake.params.device),  # noqa: F821
)
