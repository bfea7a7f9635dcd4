# The report: run manifest, FID (rules/metrics.smk), the paper's tables (csv / md / tex / html), figures, and the
# captions that `snakemake report --report results/{run}/report.html` shows.
# Named targets: table1 table2 table3 table4 fid_table generation_cost figures report. Each target is the rule
# that writes it, so `-R table1` / `--forcerun figures` / `-f table1` rebuild exactly its files. all_targets() feeds
# `rule all`.


localrules:
    manifest,
    experiment_manifest,
    report,
    report_page,


rule manifest:
    input:
        checksums=REPORT.get("checksum_files", []),
    output:
        run_path("manifest.json"),
    log:
        log_file("manifest"),
    benchmark:
        BENCH("manifest")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("eval"),
        code=CODE("report_manifest"),
        # Only the sections metrics depend on (an edit to llm/raters/report reruns no metric; nor does adding an
        # external experiment, rules/common.smk), and no absolute path (a moved checkout reruns nothing): the
        # script finds the repository from its own folder.
        config=stable(manifest_config()),
    script:
        "../scripts/report_manifest.py"


# One experiment's manifest: the shared sections and its own settings (manifest_config, rules/common.smk), with the
# run manifest's machine, code and checkpoints. Its metric files embed it, so adding or editing another experiment
# reruns none of them. ancient(): a run manifest rewritten for another experiment's sake reruns nothing here.
rule experiment_manifest:
    input:
        run=ancient(run_path("manifest.json")),
    output:
        experiment_manifest_path("{experiment}"),
    log:
        log_file("manifest/{experiment}"),
    benchmark:
        BENCH("manifest/{experiment}")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("eval"),
        code=CODE("report_experiment_manifest"),
        config=lambda wc: manifest_config(wc.experiment),
    script:
        "../scripts/report_experiment_manifest.py"


for _name in TABLES:

    rule:
        name:
            TABLE_RULES[_name]
        input:
            metrics=table_rule(_name)["metrics"],
            paper=PAPER_RESULTS,
            manifest=run_path("manifest.json"),
        output:
            tables=table_rule(_name)["outputs"],
            html=report(
                run_path(f"tables/{TABLE_FILES[_name]}.html"),
                caption=f"../report/{_name}.rst",
                category="Tables",
                labels={"table": _name},
            ),
        log:
            log_file(f"tables/{_name}"),
        benchmark:
            BENCH(f"tables/{_name}")
        retries: 0  # deterministic: a retry would fail the same way
        conda:
            conda_env("report")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            env=ENV("report"),
            code=CODE("report_tables"),
            name=_name,
            metrics_dir=lambda wildcards, input: os.path.join(
                parent_dir(input.manifest), "metrics"
            ),
        script:
            "../scripts/report_tables.py"


# One job writes every figure, so `-R figures` / `--forcerun figures` rebuilds exactly the figures (and nothing else).
rule figures:
    input:
        metrics=all_table_metric_files(),
        per_category=figure_files(["coco_bbox", "coco_segm"]),
        pim=figure_files(
            [
                "pim_point_paper",
                "pim_point_corrected",
                "pim_scribble_paper",
                "pim_scribble_corrected",
            ]
        ),
        fid=figure_files(["fid"]),
        paper=PAPER_RESULTS,
        manifest=run_path("manifest.json"),
        layouts=[run_path(f"layouts/{exp}.jsonl") for exp in qualitative_experiments()],
        generated=[
            run_path(f"images/{exp}/done.json") for exp in qualitative_experiments()
        ],
        real=(
            [run_path(f"images/{REAL_EXPERIMENT}/done.json")]
            if qualitative_experiments()
            else []
        ),
    output:
        delta_forest=[
            fig("delta_forest", "figure_delta"),
            run_path("figures/delta_forest.pdf"),
        ],
        per_category_ap=[
            fig("per_category_ap", "figure_per_category"),
            run_path("figures/per_category_ap.pdf"),
        ],
        pim_distributions=[
            fig("pim_distributions", "figure_pim"),
            run_path("figures/pim_distributions.pdf"),
        ],
        fid_vs_format=[
            fig("fid_vs_format", "figure_fid"),
            run_path("figures/fid_vs_format.pdf"),
        ],
        qualitative=[
            (
                report(
                    run_path(f"figures/qualitative_{exp}.png"),
                    caption="../report/figure_qualitative.rst",
                    category="Figures",
                    subcategory="Qualitative",
                    labels={"figure": "qualitative", "experiment": exp},
                )
                if ext == "png"
                else run_path(f"figures/qualitative_{exp}.pdf")
            )
            for exp in qualitative_experiments()
            for ext in ("png", "pdf")
        ],
    log:
        log_file("figures"),
    benchmark:
        BENCH("figures")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("report")
    # Figures draw in parallel processes (instdiff.report.figures.draw_all): the job runs last, alone, on the
    # smoke's 2 cores.
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        env=ENV("report"),
        code=CODE("report_figures"),
        metrics_dir=lambda wildcards, input: os.path.join(
            parent_dir(input.manifest), "metrics"
        ),
        experiments=qualitative_experiments(),
        run_seed=config["seed"],
        k=REPORT.get("qualitative_images", 4),
    script:
        "../scripts/report_figures.py"


# Seconds per image of each generated experiment, from its done file, and the device-hours of report.cost_images
# images at that rate: the smoke run shows its own cost, a short GPU run the paper run's (instdiff/report/cost.py).
rule generation_cost:
    input:
        done=[
            run_path(f"images/{exp}/done.json")
            for exp in sorted(generated_experiments())
        ],
    output:
        csv=report(
            run_path("tables/generation_cost.csv"),
            caption="../report/generation_cost.rst",
            category="Tables",
            labels={"table": "generation_cost"},
        ),
        md=run_path("tables/generation_cost.md"),
    log:
        log_file("tables/generation_cost"),
    benchmark:
        BENCH("tables/generation_cost")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("report")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("report"),
        code=CODE("report_generation_cost"),
        # Sorted: the config's key order is not a setting (a re-saved config must not rerun the table).
        experiments=sorted(generated_experiments()),
        images=REPORT["cost_images"],
    script:
        "../scripts/report_generation_cost.py"


# The run's own report page: opens on the Δ forest plot and the headline tables, figures as thumbnails linked to
# the full files (instdiff/report/page.py); `snakemake --report` remains the full archive with the workflow graph.
rule report_page:
    input:
        tables=[run_path(f"tables/{TABLE_FILES[name]}.html") for name in TABLES],
        figures=[f for f in [*FIGURES, *qualitative_figures()] if f.endswith(".png")],
        cost=[f for f in cost_tables() if f.endswith(".md")],
    output:
        run_path("report.html"),
    log:
        log_file("report_page"),
    benchmark:
        BENCH("report_page")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("report")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        env=ENV("report"),
        code=CODE("report_page"),
        run=config["run"],
    script:
        "../scripts/report_page.py"


rule report:
    input:
        table_outputs(),
        cost_tables(),
        rules.figures.output,
        rules.report_page.output,
