"""Rule hub_snapshot (localrule): one hub checkpoint at its pinned commit into resources/hub/."""
from instdiff.data.hub import fetch_snapshot
from instdiff.core.logging_setup import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
p = snakemake.params  # noqa: F821
fetch_snapshot(p.repo, p.revision, snakemake.output.snapshot, snakemake.output.record, p.config_key)  # noqa: F821
