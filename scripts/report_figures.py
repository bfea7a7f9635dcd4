"""Rule figures: every report figure in one job (instdiff.report.figures), so `-R figures` rebuilds exactly them; the
figures are drawn in the job's `threads` processes."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.core.banner import run_banner
from instdiff.report.figures import (
    delta_forest,
    draw_all,
    fid_vs_format,
    per_category_ap,
    pim_distributions,
    qualitative_grid,
)
from instdiff.report.inputs import stored_format

from_snakemake(snakemake)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
banner = run_banner(snakemake.config)
generated = [n for n, e in snakemake.config["experiments"].items() if e.get("kind") in ("generated", "jpeg_copy")]
real = inp.real[0] if p.experiments else None
calls = [
    (pim_distributions, (list(inp.pim), list(out.pim_distributions), inp.paper),
     {"banner": banner, "generated": generated}),
    (per_category_ap, (list(inp.per_category), list(out.per_category_ap)), {"banner": banner}),
    (delta_forest, (snakemake.config, p.metrics_dir, inp.paper, list(out.delta_forest)), {"banner": banner}),
    *[(qualitative_grid, (inp.layouts[i], inp.generated[i], real, list(out.qualitative[2 * i: 2 * i + 2]), experiment,
                          p.run_seed), {"k": p.k, "banner": banner})
      for i, experiment in enumerate(p.experiments)],
    (fid_vs_format, (list(inp.fid), list(out.fid_vs_format)),
     {"stored": stored_format(snakemake.config), "banner": banner}),
]
draw_all(calls, snakemake.threads)
