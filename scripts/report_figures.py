"""Rule figures: every report figure in one job (instdiff.report.figures), so `-R figures` rebuilds exactly them."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.report.figures import fid_vs_format, metrics_vs_paper, per_category_ap, pim_distributions, qualitative_grid
from instdiff.report.inputs import stored_format

from_snakemake(snakemake)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
metrics_vs_paper(snakemake.config, p.metrics_dir, inp.paper, list(out.metrics_vs_paper))
per_category_ap(list(inp.per_category), list(out.per_category_ap))
pim_distributions(list(inp.pim), list(out.pim_distributions), inp.paper)
fid_vs_format(list(inp.fid), list(out.fid_vs_format), stored=stored_format(snakemake.config))
real = inp.real[0] if p.experiments else None
for i, experiment in enumerate(p.experiments):
    qualitative_grid(inp.layouts[i], inp.generated[i], real, list(out.qualitative[2 * i: 2 * i + 2]), experiment,
                     p.run_seed, k=p.k)
