"""Snakemake entry point of rule raters_stats: ratings table -> raters/stats.json, the rater figures and
raters/table.{md,csv,tex}."""

from instdiff.core.logging_setup import from_snakemake
from instdiff.core.banner import run_banner
from instdiff.raters.analysis import run_study

from_snakemake(snakemake)  # noqa: F821
run_study(
    list(snakemake.input.ratings),  # noqa: F821
    snakemake.output.stats,  # noqa: F821
    snakemake.params.figures_dir,  # noqa: F821
    seed=int(snakemake.params.seed),  # noqa: F821
    automatic=list(snakemake.input.automatic),  # noqa: F821
    images_dir=snakemake.params.images,  # noqa: F821
    n_boot=int(snakemake.params.n_boot),  # noqa: F821
    n_boot_alpha=int(snakemake.params.n_boot_alpha),  # noqa: F821
    level=float(snakemake.params.level),  # noqa: F821
    tables=list(snakemake.output.tables),  # noqa: F821
    banner=run_banner(snakemake.config),  # noqa: F821
)
