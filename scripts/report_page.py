"""Rule report_page: the run's report page, opening on the results (instdiff.report.page)."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.core.banner import run_banner
from instdiff.report.page import write_report_page

from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
write_report_page(snakemake.output[0], snakemake.params.run, list(snakemake.input.tables),  # noqa: F821
                  list(snakemake.input.figures), banner=run_banner(snakemake.config),  # noqa: F821
                  extra_tables=list(snakemake.input.cost))  # noqa: F821
