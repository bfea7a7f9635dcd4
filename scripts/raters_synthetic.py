"""Snakemake entry point of rule raters_synthetic: a seeded synthetic human study (smoke run)."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.raters.synthetic import write_synthetic_study

from_snakemake(snakemake)  # noqa: F821
design = dict(snakemake.params.design)  # noqa: F821
write_synthetic_study(
    snakemake.output.ratings,  # noqa: F821
    snakemake.output.automatic,  # noqa: F821
    seed=int(snakemake.params.seed),  # noqa: F821
    n_images=int(design.get("n_images", 12)),
    n_raters=int(design.get("n_raters", 4)),
    missing=float(design.get("missing", 0.05)),
)
