# Shared definitions for every stage: config validation, path helpers, experiment queries.
# Kept cheap: every SLURM job re-reads the Snakefile, so nothing here touches data.
from pathlib import Path

from snakemake.utils import validate, min_version

min_version("9.19")

WORKFLOW_ROOT = Path(workflow.basedir)
SCHEMA_DIR = WORKFLOW_ROOT / "config" / "schema"

validate(config, SCHEMA_DIR / "config.schema.yaml")
# Each optional section (llm, raters, report, ...) has its own schema file named after it.
for _schema in sorted(SCHEMA_DIR.glob("*.schema.yaml")):
    _section = _schema.name.removesuffix(".schema.yaml")
    if _section != "config":
        config.setdefault(_section, {})
        validate(config[_section], _schema)

RUN = config["run"]
SMOKE = config["models"]["source"] == "tiny"
EXPERIMENTS = config["experiments"]

# Map each metric id of the config to the metric files it produces (docs/architecture.md).
METRIC_FILES = {
    "coco_bbox": ["coco_bbox"],
    "coco_segm": ["coco_segm"],
    "coco_bbox_segmodel": ["coco_bbox_segmodel"],
    "pim_point": ["pim_point_paper", "pim_point_corrected"],
    "pim_scribble": ["pim_scribble_paper", "pim_scribble_corrected"],
    "attribute": ["attribute_gt", "attribute_detected"],
    "fid": ["fid"],
}


def R(path=""):
    """A path inside this run's results folder."""
    return f"results/{RUN}/{path}"


def RES(path=""):
    """A path inside the shared downloads folder."""
    return f"{config.get('resources_dir', 'resources')}/{path}"


def LOG(name):
    return R(f"logs/{name}.log")


def ENV(stage):
    """The pinned conda env of a stage (used with --software-deployment-method conda)."""
    return f"../envs/{stage}.yaml"


def experiments_with(metric):
    return [name for name, exp in EXPERIMENTS.items() if metric in exp.get("metrics", [])]


def generated_experiments():
    return [name for name, exp in EXPERIMENTS.items() if exp["kind"] == "generated"]


def real_experiments(resolution=None):
    """Real-image experiments; ``resolution`` "squashed512" (the 512x512 upper bound) or "native" (real_fullres)."""
    return [name for name, exp in EXPERIMENTS.items() if exp["kind"] == "real"
            and resolution in (None, exp.get("resolution", "squashed512"))]


def layout_experiments(source):
    """Experiments whose layouts come from `source`: "coco" (rules/data.smk) or "llm" (rules/llm.smk).
    A jpeg_copy experiment copies its source's layouts instead (rules/jpeg.smk)."""
    return [name for name, exp in EXPERIMENTS.items()
            if exp.get("layouts", "coco") == source and exp["kind"] != "jpeg_copy"]


def jpeg_experiments():
    return [name for name, exp in EXPERIMENTS.items() if exp["kind"] == "jpeg_copy"]


def jpeg_source(name):
    """The generated experiment a jpeg_copy experiment copies (checked when the config is read)."""
    src = EXPERIMENTS[name].get("source")
    if src not in generated_experiments():
        raise WorkflowError(
            f"config experiments.{name}.source is {src!r}: a jpeg_copy experiment copies a generated experiment; "
            f"set it to one of {generated_experiments()}"
        )
    return src


def one_of(names):
    """A wildcard constraint matching exactly these names (and nothing when the list is empty)."""
    return "|".join(names) if names else "(?!)"


def experiment_seed(name):
    return int(EXPERIMENTS[name].get("seed", config["seed"]))


def experiment_shards(name):
    return int(EXPERIMENTS[name].get("shards", config["generation"]["shards"]))


def by_attempt(base):
    """A resource that grows with each retry: a job killed by SLURM for time or memory comes back with more."""
    return lambda wildcards, attempt: base * attempt


def metric_outputs(experiment):
    """Every metric file an experiment asks for."""
    return [
        R(f"metrics/{experiment}/{stem}.json")
        for metric in EXPERIMENTS[experiment].get("metrics", [])
        for stem in METRIC_FILES[metric]
    ]


for _name in jpeg_experiments():
    jpeg_source(_name)  # a bad source fails at parse time, before any job runs


wildcard_constraints:
    experiment="|".join(EXPERIMENTS) if EXPERIMENTS else "[^/]+",


onstart:
    # Runs before the first job is scheduled (never in a dry-run): a profile left with placeholders would
    # otherwise fail at sbatch time, job by job.
    from instdiff.workflow_checks import placeholder_message, profile_placeholders

    _found = profile_placeholders(
        workflow.resource_settings.default_resources, workflow.resource_settings.overwrite_resources
    )
    if _found:
        raise WorkflowError(placeholder_message(_found))
