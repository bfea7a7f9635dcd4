# Helpers of the report stage (functions and constants only; the rules are in report.smk).
from instdiff.report.tables import TABLE_FILES, TABLES, table_inputs

# The rule writing each table is named after its target (`snakemake table1`, `-R table1`); "fid" is a metric rule.
TABLE_RULES = {name: "fid_table" if name == "fid" else name for name in TABLES}

REPORT = config["report"]
# Relative to the working directory (the checkout): an absolute path would rerun everything after a move.
PAPER_RESULTS = "config/paper_results.yaml"
TABLE_FORMATS = ("csv", "md", "tex")
# The upper-bound experiment: the real images squashed to 512x512 (FID reference, qualitative grids).
REAL_EXPERIMENT = next(
    iter(real_experiments("squashed512")), None
)  # FID's reference set and the grids: 512x512
FIGURES = [
    R(f"figures/{name}.{ext}")
    for name in (
        "metrics_vs_paper",
        "per_category_ap",
        "pim_distributions",
        "fid_vs_format",
    )
    for ext in ("png", "pdf")
]


def table_metric_files(name):
    return [R(f"metrics/{exp}/{stem}.json") for exp, stem in table_inputs(name, config)]


def table_rule(name):
    """Inputs and outputs of the job writing table `name` (one job per table, so each rebuilds alone)."""
    return dict(
        metrics=table_metric_files(name),
        outputs=[R(f"tables/{TABLE_FILES[name]}.{ext}") for ext in TABLE_FORMATS],
    )


def figure_files(stems):
    return [
        R(f"metrics/{exp}/{stem}.json")
        for exp in EXPERIMENTS
        for stem in stems
        if stem in metric_files(EXPERIMENTS[exp].get("metrics", []))
    ]


def all_table_metric_files():
    return sorted({f for name in TABLES for f in table_metric_files(name)})


def fig(name, caption, **labels):
    return report(
        R(f"figures/{name}.png"),
        caption=f"../report/{caption}.rst",
        category="Figures",
        labels={"figure": name, **labels},
    )


def qualitative_experiments():
    # A grid needs the real images beside the generated ones.
    return sorted(generated_experiments()) if REAL_EXPERIMENT is not None else []


def qualitative_figures():
    return [
        R(f"figures/qualitative_{exp}.{ext}")
        for exp in qualitative_experiments()
        for ext in ("png", "pdf")
    ]


def table_outputs():
    return [f for name in TABLES for f in getattr(rules, TABLE_RULES[name]).output]


def all_targets():
    """The default target: every table and figure (and through them every metric the config asks for)."""
    return [*table_outputs(), *FIGURES, *qualitative_figures()]
