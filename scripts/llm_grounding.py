"""Snakemake entry point of rules `llm_grounding` / `llm_grounding_vlm` (rules/llm.smk): the scorers load the local
hub snapshots of rule hub_snapshot (or the smoke's tiny models) with the hub offline."""

from instdiff.data.hub import go_offline

go_offline()  # before anything imports huggingface_hub: a compute job never fetches

from instdiff.llm.scorers.run import score_images
from instdiff.core.device import require
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
score_images(
    layouts_path=snakemake.input.layouts,  # noqa: F821
    images_dir=snakemake.params.images_dir,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    scorer_name=snakemake.wildcards.scorer,  # noqa: F821
    settings=dict(snakemake.params.settings),  # noqa: F821
    variant=snakemake.wildcards.variant,  # noqa: F821
    image_format=snakemake.params.image_format,  # noqa: F821
    device=require(snakemake.params.device),  # noqa: F821
)
