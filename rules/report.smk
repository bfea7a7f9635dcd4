# The report: run manifest, FID (rules/fid.smk), the paper's tables (csv / md / tex / html), figures, and the
# captions that `snakemake report --report results/{run}/report.html` shows.
# Named targets: table1 table2 table3 table4 fid_table figures report; all_targets() feeds `rule all`.
include: "report_common.smk"
include: "fid.smk"


localrules:
    manifest,
    table1,
    table2,
    table3,
    table4,
    fid_table,
    figures,
    report,


rule manifest:
    input:
        checksums=REPORT.get("checksum_files", []),
    output:
        R("manifest.json"),
    params:
        # The whole config is a param, so any config change rebuilds the manifest and every metric after it.
        config=config,
        root=str(WORKFLOW_ROOT),
    log:
        LOG("manifest"),
    conda:
        ENV("eval")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/manifest.py"


for _name in TABLES:

    rule:
        name:
            TABLE_FILES[_name]
        input:
            metrics=table_rule(_name)["metrics"],
            paper=PAPER_RESULTS,
            manifest=R("manifest.json"),
        output:
            tables=table_rule(_name)["outputs"],
            html=report(
                R(f"tables/{TABLE_FILES[_name]}.html"),
                caption=f"../report/{_name}.rst",
                category="Tables",
                labels={"table": _name},
            ),
        params:
            name=_name,
            metrics_dir=lambda wildcards, input: os.path.join(os.path.dirname(input.manifest), "metrics"),
        log:
            LOG(f"tables/{_name}"),
        conda:
            ENV("report")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        script:
            "../scripts/table.py"


rule table1:
    input:
        rules.table1_boxes.output,


rule table2:
    input:
        rules.table2_masks.output,


rule table3:
    input:
        rules.table3_pim.output,


rule table4:
    input:
        rules.table4_attribute_binding.output,


rule fid_table:
    input:
        rules.fid_by_format.output,


rule figure_metrics:
    input:
        metrics=all_table_metric_files(),
        paper=PAPER_RESULTS,
        manifest=R("manifest.json"),
    output:
        png=fig("metrics_vs_paper", "figure_metrics"),
        pdf=R("figures/metrics_vs_paper.pdf"),
    params:
        metrics_dir=lambda wildcards, input: os.path.join(os.path.dirname(input.manifest), "metrics"),
    log:
        LOG("figures/metrics_vs_paper"),
    conda:
        ENV("report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figure_metrics.py"


rule figure_per_category:
    input:
        metrics=figure_files(["coco_bbox", "coco_segm"]),
    output:
        png=fig("per_category_ap", "figure_per_category"),
        pdf=R("figures/per_category_ap.pdf"),
    log:
        LOG("figures/per_category_ap"),
    conda:
        ENV("report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figure_per_category.py"


rule figure_pim:
    input:
        metrics=figure_files(
            [
                "pim_point_paper",
                "pim_point_corrected",
                "pim_scribble_paper",
                "pim_scribble_corrected",
            ]
        ),
        paper=PAPER_RESULTS,
    output:
        png=fig("pim_distributions", "figure_pim"),
        pdf=R("figures/pim_distributions.pdf"),
    log:
        LOG("figures/pim_distributions"),
    conda:
        ENV("report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figure_pim.py"


rule figure_fid:
    input:
        metrics=figure_files(["fid"]),
    output:
        png=fig("fid_vs_format", "figure_fid"),
        pdf=R("figures/fid_vs_format.pdf"),
    log:
        LOG("figures/fid_vs_format"),
    conda:
        ENV("report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figure_fid.py"


rule figure_qualitative:
    input:
        layouts=R("layouts/{experiment}.jsonl"),
        generated=R("images/{experiment}/done.json"),
        real=R(f"images/{REAL_EXPERIMENT}/done.json"),
    output:
        png=report(
            R("figures/qualitative_{experiment}.png"),
            caption="../report/figure_qualitative.rst",
            category="Figures",
            subcategory="Qualitative",
            labels={"figure": "qualitative", "experiment": "{experiment}"},
        ),
        pdf=R("figures/qualitative_{experiment}.pdf"),
    params:
        run_seed=config["seed"],
        k=REPORT.get("qualitative_images", 4),
    log:
        LOG("figures/qualitative_{experiment}"),
    conda:
        ENV("report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figure_qualitative.py"


rule figures:
    input:
        FIGURES,
        qualitative_figures(),


rule report:
    input:
        table_outputs(),
        FIGURES,
        qualitative_figures(),
