# instdiff: reproduce InstanceDiffusion (Wang et al., CVPR 2024) end to end.
#
#   snakemake all --cores 2                                  # embedded smoke run (the default config)
#   snakemake --profile slurm all                            # the paper protocol on a SLURM cluster
#   snakemake table1 --cores 2                               # rebuild one table (smoke config by default)
#
# Every stage lives in rules/<stage>.smk; all logic lives in the instdiff package.

# The smoke config is the default only: a --configfile given on the command line (or by a profile) replaces it,
# never merges with it (a merge would leak smoke-only keys such as tiny models into the paper run).
if not workflow.overwrite_configfiles:

    configfile: "config/smoke.yaml"


report: "report/workflow.rst"


# For sites that run jobs in apptainer (`--sdm apptainer conda`): the image built from ./Dockerfile, which
# `snakemake --containerize` writes from envs/ (tests/unit/test_container.py keeps it current). Inside it every env
# is already created; without --sdm apptainer this line does nothing. README "Apptainer".
containerized: "instdiff.sif"


# Helpers first (rules/common.smk), then one rule file per stage, in the order the stages run; no rule file includes
# another. Stage X: rules/X.smk, instdiff/X/, scripts/X_*.py, docs/X.md.
include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/model.smk"
include: "rules/generation.smk"
include: "rules/detection.smk"
include: "rules/metrics.smk"
include: "rules/llm.smk"
include: "rules/raters.smk"
include: "rules/report.smk"


onerror:
    # Snakemake's own message says only "check log file(s)": print each failed job's cause from its log, with the
    # fix (an InputError's) or the command that reruns it (instdiff/core/failures.py).
    import sys
    from instdiff.core.failures import failure_report

    for _line in failure_report(
        [log] if isinstance(log, str) else log,
        configfiles=[os.path.relpath(f) for f in workflow.overwrite_configfiles],
    ):
        print(_line, file=sys.stderr)


rule all:
    default_target: True
    input:
        [metric_outputs(name) for name in EXPERIMENTS],
        instance_outputs(),
        all_targets(),
        LLM_TARGETS,
        RATERS_TARGETS,
