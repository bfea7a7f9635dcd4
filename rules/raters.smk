# The human study: a ratings table (collected with `instdiff rate`, or synthetic in the smoke run) ->
# raters/stats.json (means with bootstrap CIs, Krippendorff's alpha, ICC(2,k), Kendall tau vs automatic scores)
# and raters/figures/*.{png,pdf}. See docs/raters.md.

RATERS = config["raters"]
# Mirrors instdiff.raters_plots.FIGURES (kept literal so parsing the Snakefile imports no plotting library;
# tests/unit/test_raters_rules.py checks they agree).
RATERS_FIGURE_NAMES = ["histogram", "likert_criteria", "rater_boxplots", "rater_image_heatmap", "automatic_vs_human"]
RATERS_FIGURES = expand(R("raters/figures/{name}.{ext}"), name=RATERS_FIGURE_NAMES, ext=["png", "pdf"])


def raters_enabled():
    return RATERS.get("synthetic") is not None or bool(RATERS.get("ratings"))


def raters_ratings():
    if RATERS.get("synthetic") is not None:
        return [R("raters/synthetic/ratings.csv")]
    return list(RATERS.get("ratings", []))


def raters_automatic():
    if RATERS.get("synthetic") is not None:
        return [R("raters/synthetic/automatic_scores.csv")]
    return list(RATERS.get("automatic_scores", []))


def raters_targets():
    """What `rule all` asks of this stage: nothing when no study is configured."""
    return [R("raters/stats.json"), *RATERS_FIGURES] if raters_enabled() else []


rule raters_synthetic:
    output:
        ratings=R("raters/synthetic/ratings.csv"),
        automatic=R("raters/synthetic/automatic_scores.csv"),
    params:
        seed=config["seed"],
        design=RATERS.get("synthetic") or {},
    log:
        LOG("raters/synthetic"),
    conda:
        ENV("report")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/raters_synthetic.py"


rule raters_stats:
    input:
        ratings=raters_ratings(),
        automatic=raters_automatic(),
    output:
        stats=R("raters/stats.json"),
        figures=RATERS_FIGURES,
    params:
        seed=config["seed"],
        figures_dir=R("raters/figures"),
        images=RATERS.get("images"),
        n_boot=RATERS.get("n_boot", 2000),
        n_boot_alpha=RATERS.get("n_boot_alpha", 1000),
        level=RATERS.get("level", 0.95),
    log:
        LOG("raters/stats"),
    conda:
        ENV("report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../scripts/raters_stats.py"
