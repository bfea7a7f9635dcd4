"""Snakemake entry point of rule `llm_clip` (rules/llm.smk): loads the local weights file, the hub offline."""

from instdiff.data.hub import go_offline

go_offline()  # before anything imports huggingface_hub: a compute job never fetches

from instdiff.llm.evaluate import clip_metric_file
from instdiff.core.device import require
from instdiff.core.logging_setup import from_snakemake

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
