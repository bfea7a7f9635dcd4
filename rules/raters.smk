# The human study: a ratings table (collected with `instdiff rate`, or synthetic in the smoke run) ->
# raters/stats.json (means with bootstrap CIs, Krippendorff's alpha, ICC(2,k), Kendall tau vs automatic scores)
# raters/figures/*.{png,pdf} and the results table raters/table.{md,csv,tex}. See docs/raters.md.

RATERS = config["raters"]
# Mirrors instdiff.raters.plots.FIGURES (kept literal so parsing the Snakefile imports no plotting library;
# tests/unit/test_raters_plots.py checks they agree).
RATERS_FIGURE_NAMES = [
    "histogram",
    "likert_criteria",
    "rater_boxplots",
    "rater_image_heatmap",
    "automatic_vs_human",
]
RATERS_FIGURES = expand(
    run_path("raters/figures/{name}.{ext}"),
    name=RATERS_FIGURE_NAMES,
    ext=["png", "pdf"],
)


RATERS_SYNTHETIC = RATERS.get("synthetic") is not None
# The tables analysed: the synthetic study's (written by rule raters_synthetic) or the configured ones.
RATERS_RATINGS = (
    [run_path("raters/synthetic/ratings.csv")]
    if RATERS_SYNTHETIC
    else list(RATERS.get("ratings", []))
)
RATERS_AUTOMATIC = (
    [run_path("raters/synthetic/automatic_scores.csv")]
    if RATERS_SYNTHETIC
    else list(RATERS.get("automatic_scores", []))
)
RATERS_TABLES = expand(run_path("raters/table.{ext}"), ext=["md", "csv", "tex"])
# What `rule all` asks of this stage: nothing when no study is configured.
RATERS_TARGETS = (
    [run_path("raters/stats.json"), *RATERS_FIGURES, *RATERS_TABLES]
    if RATERS_RATINGS
    else []
)


rule raters_synthetic:
    output:
        ratings=run_path("raters/synthetic/ratings.csv"),
        automatic=run_path("raters/synthetic/automatic_scores.csv"),
    log:
        log_file("raters/synthetic"),
    benchmark:
        BENCH("raters/synthetic")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("report")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("report"),
        code=CODE("raters_synthetic"),
        seed=config["seed"],
        design=stable(RATERS.get("synthetic") or {}),
    script:
        "../scripts/raters_synthetic.py"


rule raters_stats:
    input:
        ratings=RATERS_RATINGS,
        automatic=RATERS_AUTOMATIC,
    output:
        stats=run_path("raters/stats.json"),
        tables=RATERS_TABLES,
        # The PNGs go into the Snakemake HTML report (`snakemake --report`); the PDFs are for papers.
        figures=[
            (
                report(f, caption="../report/raters.rst", category="Human study")
                if f.endswith(".png")
                else f
            )
            for f in RATERS_FIGURES
        ],
    log:
        log_file("raters/stats"),
    benchmark:
        BENCH("raters/stats")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        env=ENV("report"),
        code=CODE("raters_stats"),
        seed=config["seed"],
        figures_dir=lambda wildcards, output: parent_dir(output.figures[0]),
        images=RATERS.get("images"),
        n_boot=RATERS.get("n_boot", 2000),
        n_boot_alpha=RATERS.get("n_boot_alpha", 1000),
        level=RATERS.get("level", 0.95),
    script:
        "../scripts/raters_stats.py"
