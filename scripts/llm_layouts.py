"""Snakemake entry point of rule `llm_layouts` (rules/llm.smk)."""

from instdiff.llm.stage import make_layouts
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
# The transport keys (timeouts, retries) are read from the config: they are not params, so editing them reruns nothing.
api = {**snakemake.config.get("llm", {}).get("api", {}), **snakemake.params.section.get("api", {})}  # noqa: F821
make_layouts(
    section={**snakemake.params.section, "api": api},  # noqa: F821
    run_seed=snakemake.params.seed,  # noqa: F821
    layout_paths=[snakemake.output.layouts, snakemake.output.generation],  # noqa: F821
    requests_path=snakemake.output.requests,  # noqa: F821
    cache_dir=snakemake.params.cache_dir,  # noqa: F821
    failed_requests_path=snakemake.log.requests,  # noqa: F821 (a log: kept when the job fails)
)
