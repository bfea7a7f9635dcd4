# Shared definitions for every stage: config validation, path helpers, experiment queries.
# Kept cheap: every SLURM job re-reads the Snakefile, so nothing here touches data.
import ast
import os
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate, min_version

from instdiff.core.attempts import start_run
from instdiff.core.code_version import PACKAGE_DIR, code_hash
from instdiff.core.config_values import capped_shards, check_finite
from instdiff.core.envs import env_file, env_hash
from instdiff.core.errors import InputError
from instdiff.data.hub import is_hub_id, slug
from instdiff.generation.generators import check_experiment, model_of
from instdiff.metrics.registry import (
    METRICS,
    detector_of,
    metric_files,
    scored_attribute,
)

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
# JSON Schema lets NaN and infinities through every bound (instdiff/core/config_values.py).
check_finite(config, ", ".join(map(str, workflow.configfiles)) or "config")

# Name this invocation for its jobs: a retry of a job that failed on bad input stops at once (instdiff.core.attempts).
if workflow.is_main_process:
    start_run()

# The config files this run was given (for error messages).
CONFIG_FILE = (
    ", ".join(os.path.relpath(f) for f in workflow.overwrite_configfiles)
    or "config/smoke.yaml"
)
RUN = config["run"]
SMOKE = config["models"]["source"] == "tiny"
EXPERIMENTS = config["experiments"]
# cuda | cpu: what GPU jobs compute on (instdiff.core.device.require stops a cuda job that sees no GPU).
DEVICE = config["device"]


def run_path(path=""):
    """A path inside this run's results folder."""
    return f"results/{RUN}/{path}"


def resource_path(path=""):
    """A path inside the shared downloads folder."""
    return f"{config.get('resources_dir', 'resources')}/{path}"


def log_file(name):
    return run_path(f"logs/{name}.log")


def parent_dir(path, levels=1):
    """The folder `levels` above `path`: how a rule hands a script the folder of one of its files."""
    return str(Path(path).parents[levels - 1])


def BENCH(name):
    """`benchmark:` file of a job, beside its log's name: wall time, memory and I/O measured by Snakemake."""
    return run_path(f"benchmarks/{name}.tsv")


def CODE(script):
    """`params: code=CODE("x")`: a hash of scripts/x.py and the package code it imports (instdiff.core.code_version).
    With `rerun-triggers` lacking `code` (profiles/default, slurm/), editing that code reruns exactly the rules
    that run it, while touching a file (git checkout) reruns nothing."""
    return code_hash(
        WORKFLOW_ROOT / "scripts" / f"{script}.py", WORKFLOW_ROOT / "instdiff"
    )


def stable(value):
    """A params value whose dicts are rebuilt in sorted key order: Snakemake compares params by their repr, so
    reordering keys in a config file (or a YAML round trip) would otherwise rerun the rule.
    """
    if isinstance(value, dict):
        return {k: stable(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [stable(v) for v in value]
    return value


# What the run manifest (and, through it, every metric) depends on: the sections that shape images and numbers.
# The llm, raters and report sections have their own rules; editing them must not rerun metrics or GPU jobs.
MANIFEST_SECTIONS = (
    "run",
    "seed",
    "device",
    "data",
    "models",
    "generation",
    "detection",
    "experiments",
    "fid",
)


def manifest_config(experiment=None):
    """The config a manifest records (the params of rule manifest), the shared sections and every experiment, or, for
    one experiment's manifest (rule experiment_manifest, the one its metric files embed), the shared sections and
    that experiment's settings only, with those of the experiment a jpeg_copy copies. So adding or editing one
    experiment reruns its own metrics, and of the others nothing but the tables. The run manifest leaves out
    external experiments: handing in images made elsewhere reruns nothing of ours (instdiff/data/external.py
    records what was scored in the experiment's own done.json).
    """
    section = {k: config[k] for k in MANIFEST_SECTIONS if k in config}
    if experiment is None:
        section["experiments"] = {
            name: exp for name, exp in EXPERIMENTS.items() if exp["kind"] != "external"
        }
    else:
        names = [experiment] + (
            [jpeg_source(experiment)]
            if EXPERIMENTS[experiment]["kind"] == "jpeg_copy"
            else []
        )
        section["experiments"] = {name: EXPERIMENTS[name] for name in names}
    return stable(section)


def experiment_manifest_path(experiment):
    """The manifest an experiment's metric files embed (rule experiment_manifest)."""
    return run_path(f"manifest/{experiment}.json")


def conda_env(stage):
    """The pinned conda env of a stage (used with --software-deployment-method conda)."""
    return f"../{env_file(stage)}"


def ENV(stage):
    """`params: env=ENV("x")` beside `conda: conda_env("x")`: a content hash of the stage's env file
    (instdiff.core.envs.env_hash). Editing envs/report.yaml reruns the rules of that env, and only those, with or
    without conda; no `software-env` rerun trigger (profiles/default, slurm/), whose hash holds the env's folder under
    the conda prefix, so that another --conda-prefix or a moved checkout reruns nothing.
    """
    return env_hash(WORKFLOW_ROOT / env_file(stage))


def experiments_with(metric):
    return [
        name for name, exp in EXPERIMENTS.items() if metric in exp.get("metrics", [])
    ]


def generated_experiments():
    return [name for name, exp in EXPERIMENTS.items() if exp["kind"] == "generated"]


def real_experiments(resolution=None):
    """Real-image experiments; ``resolution`` "squashed512" (the 512x512 upper bound) or "native" (real_fullres)."""
    return [
        name
        for name, exp in EXPERIMENTS.items()
        if exp["kind"] == "real"
        and resolution in (None, exp.get("resolution", "squashed512"))
    ]


def layout_experiments(source):
    """Experiments whose layouts come from `source`: "coco" (rules/data.smk) or "llm" (rules/llm.smk).
    A jpeg_copy experiment, and a generated one with a `source`, copy their source's layouts instead; an external
    one those of the experiment its `layouts:` names (rules/data.smk)."""
    return [
        name
        for name, exp in EXPERIMENTS.items()
        if exp.get("layouts", "coco") == source
        and exp["kind"] not in ("jpeg_copy", "external")
        and name not in paired_experiments()
    ]


def paired_experiments():
    """Generated experiments with a `source`: they take that experiment's layouts and per-image seeds (a second
    model on the same inputs, e.g. GLIGEN beside InstanceDiffusion's box experiment)."""
    return [
        name
        for name, exp in EXPERIMENTS.items()
        if exp["kind"] == "generated" and exp.get("source")
    ]


def paired_source(name):
    """The generated experiment whose layouts and seeds experiment `name` reuses (checked when the config is read)."""
    src = EXPERIMENTS[name].get("source")
    others = [
        n
        for n in generated_experiments()
        if n != name and n not in paired_experiments()
    ]
    if src not in others:
        raise WorkflowError(
            f"config experiments.{name}.source is {src!r}: a generated experiment reuses the layouts and seeds of "
            f"another generated experiment that has no source itself; set it to one of {others}"
        )
    return src


def seed_experiment(name):
    """The experiment whose per-image seeds `name` uses: its source's when it has one, else its own."""
    return paired_source(name) if name in paired_experiments() else name


def experiment_model(name):
    """The generator of experiment `name` (instdiff.generation.generators), checked against its settings."""
    try:
        return check_experiment(name, EXPERIMENTS[name], CONFIG_FILE)
    except InputError as err:
        raise WorkflowError(str(err)) from None


def jpeg_experiments():
    return [name for name, exp in EXPERIMENTS.items() if exp["kind"] == "jpeg_copy"]


def null_experiments():
    """The null model (experiment kind "blank"): mid-grey images of the experiment's layouts (rules/data.smk, null_images)."""
    return [name for name, exp in EXPERIMENTS.items() if exp["kind"] == "blank"]


def jpeg_source(name):
    """The generated experiment a jpeg_copy experiment copies (checked when the config is read)."""
    src = EXPERIMENTS[name].get("source")
    if src not in generated_experiments():
        raise WorkflowError(
            f"config experiments.{name}.source is {src!r}: a jpeg_copy experiment copies a generated "
            f"experiment; set it to one of {generated_experiments()}"
        )
    return src


def external_experiments():
    return [name for name, exp in EXPERIMENTS.items() if exp["kind"] == "external"]


def external_source(name):
    """The experiment whose layouts an external experiment's images follow (checked when the config is read)."""
    src = EXPERIMENTS[name].get("layouts")
    choices = [n for n, e in EXPERIMENTS.items() if e["kind"] != "external"]
    if src not in choices:
        raise WorkflowError(
            f"config experiments.{name}.layouts is {src!r}: an external experiment's images follow the layouts of "
            f"another experiment of the config; set it to one of {choices}"
        )
    return src


def external_files(name):
    """Every file in an external experiment's folder (listed when its job is planned, not at parse time)."""
    folder = Path(EXPERIMENTS[name]["images"])
    return (
        sorted(str(p) for p in folder.iterdir() if p.is_file())
        if folder.is_dir()
        else []
    )


def external_defaults():
    """An external experiment is scored by every metric of the experiment whose layouts it follows, unless its
    `metrics:` says otherwise: filled in here, so every rule and the report read one list.
    """
    for name in external_experiments():
        EXPERIMENTS[name].setdefault(
            "metrics", list(EXPERIMENTS[external_source(name)].get("metrics", []))
        )


def one_of(names):
    """A wildcard constraint matching exactly these names (and nothing when the list is empty)."""
    return "|".join(names) if names else "(?!)"


def experiment_seed(name):
    return int(EXPERIMENTS[name].get("seed", config["seed"]))


_SHARD_WARNED = set()


def _warn_once(message):
    if message not in _SHARD_WARNED:
        _SHARD_WARNED.add(message)
        logger.warning(f"Config: {message}")


def experiment_shards(name):
    """The experiment's shard count, capped at its image count (warning naming the key): every shard is a job."""
    if "shards" in EXPERIMENTS[name]:
        requested, key = EXPERIMENTS[name]["shards"], f"experiments.{name}.shards"
    else:
        requested, key = config["generation"]["shards"], "generation.shards"
    return capped_shards(int(requested), experiment_images(name), key, _warn_once)


def cores(release):
    """`threads:` of a job that computes with torch: ``release`` on a GPU run, one core in the smoke.
    The smoke's such jobs spend most of their seconds importing torch and a model library on one core, so claiming
    one lets two of them overlap under --cores 2 (benchmarks/README.md). Snakemake exports the claim as
    OMP_NUM_THREADS (and its siblings), so torch computes with it: FID's last digits follow it, and every run that
    must equal the smoke's (the CI SLURM test) claims the same. Generation keeps its pinned count as its claim.
    """
    return 1 if SMOKE else release


# What many jobs wait for starts before the jobs that can wait: the chain to every image (the COCO layouts, the
# InstanceDiffusion model, the generation shards) and the prerequisites that otherwise ran late and then alone on one
# core: the smoke's stand-in detectors and CLIP models, the FID reference with its Inception weights, the LLM
# stand-in scorers and the grounding / CLIP jobs after them (benchmarks/README.md). A rule's priority is not passed
# to its inputs, so each link carries it (rules/data.smk, model.smk, generation.smk, detection.smk, metrics.smk,
# llm.smk).
CRITICAL_PATH_PRIORITY = 10


def by_attempt(base):
    """A resource that grows with each retry: a job killed by SLURM for time or memory comes back with more."""
    return lambda wildcards, attempt: base * attempt


def synthetic_default_images():
    """write_synthetic_coco's default image count, read from its source: importing instdiff.data.synthetic would pull
    numpy, pycocotools and scikit-image into every Snakefile parse."""
    tree = ast.parse((PACKAGE_DIR / "data" / "synthetic.py").read_text())
    func = next(
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name == "write_synthetic_coco"
    )
    names = [a.arg for a in func.args.args]
    return ast.literal_eval(func.args.defaults[names.index("n_images") - len(names)])


# Images of a full run before data.max_images: COCO val2017 holds 5,000; the synthetic set its writer's default.
SOURCE_IMAGES = {
    "coco": 5000,
    "synthetic": synthetic_default_images(),
}
MODEL_LOAD_MINUTES = 5


def experiment_images(name):
    if EXPERIMENTS[name].get("layouts", "coco") == "llm":
        return int(config.get("llm", {}).get("n_layouts", 100))
    return int(
        config["data"].get("max_images") or SOURCE_IMAGES[config["data"]["source"]]
    )


def generation_minutes(wildcards, attempt):
    """A shard's wall time from its work: images per shard x generation.seconds_per_image, x1.5 for slower nodes,
    plus the model load; scaled by the attempt, so a shard killed for time comes back with more.
    """
    per_shard = -(-experiment_images(wildcards.experiment) // int(wildcards.nshards))
    seconds = per_shard * float(config["generation"]["seconds_per_image"]) * 1.5
    return attempt * (MODEL_LOAD_MINUTES + int(-(-seconds // 60)))


def gligen_experiments():
    return [n for n in generated_experiments() if model_of(EXPERIMENTS[n]) == "gligen"]


def gligen_release():
    """config models.gligen (the hub repo and its pinned commit) of a release run with a GLIGEN experiment."""
    if "gligen" not in config["models"]:
        raise WorkflowError(
            f"{CONFIG_FILE}: experiments {gligen_experiments()} use model gligen, but models.gligen is not set. "
            "Fix: add models.gligen: {repo: masterful/gligen-1-4-generation-text-box, revision: <40-hex commit>}"
        )
    return config["models"]["gligen"]


# The models' folders the generate jobs load (rules/model.smk writes or fetches them).
INSTDIFF_MODEL = run_path("models/instancediffusion")
GLIGEN_TINY = run_path("models/tiny/gligen")


def model_folder(experiment):
    """The folder the generate jobs of `experiment` load: its generator's model (instdiff.generation.generators)."""
    if experiment_model(experiment) == "gligen":
        return GLIGEN_TINY if SMOKE else hub_local(gligen_release()["repo"])
    return INSTDIFF_MODEL


def hub_models():
    """Every hub checkpoint the config names (rules/data.smk): folder name -> repo, revision, and its config key."""
    models = {}

    def add(repo, revision, key):
        if is_hub_id(repo):
            models[slug(repo)] = {"repo": repo, "revision": revision, "key": key}

    if gligen_experiments() and not SMOKE:
        gligen = gligen_release()
        add(gligen["repo"], gligen.get("revision"), "models.gligen.revision")
    for name, exp in EXPERIMENTS.items():
        refiner = exp.get("refiner") or {}
        add(
            refiner.get("model"),
            refiner.get("revision"),
            f"experiments.{name}.refiner.revision",
        )
    llm = config.get("llm") or {}
    if llm.get("enabled", True):
        for name, scorer in (llm.get("grounding") or {}).get("scorers", {}).items():
            if not scorer.get("tiny"):
                add(
                    scorer.get("model"),
                    scorer.get("revision"),
                    f"llm.grounding.scorers.{name}.revision",
                )
                add(
                    scorer.get("tokenizer"),
                    scorer.get("tokenizer_revision"),
                    f"llm.grounding.scorers.{name}.tokenizer_revision",
                )
    return models


HUB = hub_models()


def hub_local(name_or_path):
    """What a job loads: the snapshot folder of a hub id (resources/hub/org--name), a local path as it is."""
    return (
        resource_path(f"hub/{slug(name_or_path)}")
        if name_or_path and is_hub_id(name_or_path)
        else name_or_path
    )


def hub_inputs(*names):
    """The snapshot folders a job needs (inputs, so the localrule fetches them first)."""
    return [hub_local(n) for n in names if n and is_hub_id(n)]


def metric_outputs(experiment):
    """Every metric file an experiment asks for (instdiff/metrics/registry.py says which files a metric writes)."""
    return [
        run_path(f"metrics/{experiment}/{stem}.json")
        for stem in metric_files(EXPERIMENTS[experiment].get("metrics", []))
    ]


for _name in jpeg_experiments():
    jpeg_source(_name)  # a bad source fails at parse time, before any job runs
# A model that cannot run its experiment, or a bad source, fails at parse time, naming the key.
for _name in EXPERIMENTS:
    experiment_model(_name)
for _name in generated_experiments():
    seed_experiment(_name)
external_defaults()  # and a bad `layouts:` of an external experiment


wildcard_constraints:
    experiment="|".join(EXPERIMENTS) if EXPERIMENTS else "[^/]+",
    detector="[A-Za-z0-9]+(-seg)?",
    mode="point|scribble",


def preflight_gaps():
    """Every missing prerequisite of this run in one list (instdiff preflight): unpinned downloads, profile
    placeholders, the API key, disk under resources_dir, and torch's CUDA build where an NVIDIA driver is visible.
    """
    from instdiff.commands.preflight import gaps
    from instdiff.core.workflow_checks import profile_placeholders

    configs = [os.path.relpath(f) for f in workflow.overwrite_configfiles] or [
        "config/smoke.yaml"
    ]
    return gaps(
        config,
        ", ".join(configs),
        placeholders=profile_placeholders(
            workflow.resource_settings.default_resources,
            workflow.resource_settings.overwrite_resources,
        ),
    )


# Parsing is the one moment a dry run gives the workflow: the main process lists what is missing as a warning
# (jobs re-parse the Snakefile as subprocesses and skip it); onstart stops a real run on the same list. On stderr:
# Snakemake logs to stdout, where `-n --quiet rules` lists the planned jobs for scripts to read.
if workflow.is_main_process:
    _gaps = preflight_gaps()
    if _gaps:
        from instdiff.commands.preflight import message as _preflight_message

        print(
            "Warning:",
            _preflight_message(_gaps),
            "A real run stops here before submitting anything.",
            file=sys.stderr,
        )


onstart:
    # Runs before the first job is scheduled (never in a dry-run): a profile left with placeholders would
    # otherwise fail at sbatch time, job by job, and a download at a null revision would float (rules/data.smk).
    from instdiff.commands.preflight import message

    _gaps = preflight_gaps()
    if _gaps:
        raise WorkflowError(message(_gaps) + " Nothing was submitted.")


# -------------------- helpers of the detection and metrics stages

# Path and input helpers of the detection and metrics stages (functions only, so --lint stays clean).

CLIP = config["models"]["clip_attribute"]


def yolo_path(detector):
    """The detector's .pt file: built per run in the smoke config, downloaded once otherwise."""
    return (
        run_path(f"models/yolo/{detector}.pt")
        if SMOKE
        else resource_path(f"models/yolo/{detector}.pt")
    )


def detector_for(metric):
    """docs/architecture.md: boxes from models.detector_box, masks (segm AP, PiM) and the sensitivity row's boxes
    (coco_bbox_segmodel) from models.detector_mask (instdiff.metrics.registry)."""
    return config["models"][detector_of(metric)]


def detections(experiment, metric):
    return run_path(f"detections/{experiment}/{detector_for(metric)}.json")


def clip_path():
    if SMOKE:
        return run_path("models/clip/tiny-clip.pt")
    return resource_path(f"models/clip/{CLIP['arch']}_{CLIP['pretrained']}.pt")


def attribute_of(experiment):
    """The scored attribute list (colors or textures) of the attribute metric."""
    return scored_attribute(EXPERIMENTS, experiment)


def annotations_for(experiment):
    """The GT an experiment is scored against: the official file for native-resolution real images (real_fullres),
    else the annotations squashed to 512x512 like the images."""
    if (
        EXPERIMENTS[experiment]["kind"] == "external"
    ):  # scored as the experiment it follows
        return annotations_for(external_source(experiment))
    if EXPERIMENTS[experiment].get("resolution", "squashed512") == "native":
        return f"{COCO_SOURCE}/annotations/instances_val2017.json"
    return run_path("data/annotations_512.json")


def metric_inputs(metric):
    """Inputs shared by the metric rules; ``metric`` (or a function of the wildcards giving it) picks the detector
    (None: no detections)."""

    def inputs(wc):
        name = metric(wc) if callable(metric) else metric
        files = {
            "annotations": annotations_for(wc.experiment),
            "layouts": run_path(f"layouts/{wc.experiment}.jsonl"),
            "images": run_path(f"images/{wc.experiment}/done.json"),
            "manifest": experiment_manifest_path(wc.experiment),
        }
        if name is not None:
            files["detections"] = detections(wc.experiment, name)
        return files

    return inputs


def instance_detector(experiment):
    """models.<key> whose detections the per-instance records match (rules/metrics.smk): the box detector when
    a metric of the experiment already runs it, else the segmentation detector's boxes, so the records add no
    detection job; None when no metric of the experiment detects anything."""
    metrics = EXPERIMENTS[experiment].get("metrics", [])
    used = {METRICS[m].detector for m in metrics} - {None}
    return next((k for k in ("detector_box", "detector_mask") if k in used), None)


def instance_experiments():
    """The experiments with per-instance records: every generated or external one that a detector scores."""
    return [
        name
        for name, exp in EXPERIMENTS.items()
        if exp["kind"] in ("generated", "external") and instance_detector(name)
    ]


def instance_inputs(wc):
    """The inputs of the per-instance records: the metric inputs, the matched detector's results, the
    segmentation results of each PiM mode the experiment is scored by, and its attribute metric files.
    """
    exp = wc.experiment
    metrics = EXPERIMENTS[exp].get("metrics", [])
    files = {
        k: v
        for k, v in metric_inputs(None)(wc).items()
        if k in ("annotations", "layouts", "images")
    }
    files["detections"] = run_path(
        f"detections/{exp}/{config['models'][instance_detector(exp)]}.json"
    )
    for mode in ("point", "scribble"):
        if f"pim_{mode}" in metrics:
            files[f"masks_{mode}"] = detections(exp, f"pim_{mode}")
    if "attribute" in metrics:
        for variant in ("gt", "detected"):
            files[f"attribute_{variant}"] = run_path(
                f"metrics/{exp}/attribute_{variant}.json"
            )
    return files


def instance_outputs():
    return [
        run_path(f"metrics/{name}/instances.jsonl") for name in instance_experiments()
    ]


# -------------------- helpers of the LLM stage

# Helpers of the LLM stage (constants and functions only; the rules are in llm.smk).

LLM = config.get("llm", {})
LLM_SCORERS = LLM.get("grounding", {}).get("scorers", {})
LLM_VARIANTS = LLM.get("image_variants", ["raw"])
LLM_DETECTORS = [n for n, s in LLM_SCORERS.items() if s["kind"] != "cogvlm"]
LLM_VLMS = [n for n, s in LLM_SCORERS.items() if s["kind"] == "cogvlm"]
LLM_EXTENSION_FILES = {
    "layouts": resource_path("extension/gpt4o-layouts-2024-05-19"),
    "pred": resource_path("extension/converted_cogvlm_bboxes.json"),
    "gt": resource_path("extension/bounding_boxes_chatgpt.json"),
    "sources": resource_path("extension/sources.json"),
}


# No `envvars: "OPENAI_API_KEY"`: it would make every dry-run of the paper config demand the key. The key reaches
# jobs through the environment (local runs; sbatch exports it by default); rule llm_layouts fails with a clear message
# before any request when it is missing.


# Keys of llm.api that change how requests travel, not what comes back: kept out of rule llm_layouts' params so that
# editing them reruns nothing (the job still reads them, from the config).
LLM_TRANSPORT_KEYS = (
    "timeout_s",
    "request_deadline_s",
    "stage_deadline_s",
    "max_attempts",
    "backoff_s",
    "backoff_max_s",
)
# Sections of other llm rules (scorers, CLIP, the table): they do not shape the layouts.
LLM_NOT_LAYOUT = ("grounding", "clip", "legacy", "published", "image_variants")


def llm_layout_settings():
    """The llm settings that shape the layouts (rule llm_layouts' params)."""
    section = {k: v for k, v in LLM.items() if k not in LLM_NOT_LAYOUT}
    section["api"] = {
        k: v for k, v in LLM.get("api", {}).items() if k not in LLM_TRANSPORT_KEYS
    }
    return section


def llm_scorer_settings(name):
    """A scorer's settings with local folders only: the smoke run's tiny model, or the hub snapshots of
    rules/data.smk (the job loads them offline; the pinned revisions stay, checked at load and recorded).
    """
    settings = dict(LLM_SCORERS[name])
    if settings.get("tiny"):
        settings["model"] = run_path(f"models/llm/{name}")
        return settings
    for key in ("model", "tokenizer"):
        if is_hub_id(settings.get(key)):
            settings[f"{key}_repo"] = settings[key]
            settings[key] = hub_local(settings[key])
    return settings


def llm_scorer_model(wildcards):
    scorer = LLM_SCORERS[wildcards.scorer]
    if scorer.get("tiny"):
        return [run_path(f"models/llm/{wildcards.scorer}")]
    return hub_inputs(scorer.get("model"), scorer.get("tokenizer"))


LLM_CLIP = LLM.get("clip", {})
# The OpenAI ViT-B/32 file as the hub publishes it (rule llm_clip_download); the smoke's tiny model in that format.
LLM_CLIP_RELEASE = resource_path(
    f"models/llm_clip/{LLM_CLIP.get('arch', 'ViT-B-32-quickgelu')}_"
    f"{LLM_CLIP.get('pretrained', 'openai')}.safetensors"
)
LLM_CLIP_WEIGHTS = (
    run_path("models/llm/clip/tiny-clip.safetensors")
    if LLM_CLIP.get("tiny")
    else LLM_CLIP_RELEASE
)


def llm_clip_settings():
    """The settings of the llm_clip job, with the local weights file it loads (never a tag open_clip would fetch)."""
    return {**LLM_CLIP, "weights": LLM_CLIP_WEIGHTS}


def llm_replay_input(wildcards):
    return [LLM["replay"]["dir"]] if LLM.get("source", "replay") == "replay" else []


LLM_TARGETS = (
    [
        run_path("tables/llm.csv"),
        run_path("tables/llm.md"),
        run_path("llm/layout_images"),
    ]
    if LLM.get("enabled", True)
    else []
)


# -------------------- helpers of the report stage

# Helpers of the report stage (functions and constants only; the rules are in report.smk).
from instdiff.report.inputs import table_inputs
from instdiff.report.specs import TABLE_FILES, TABLES

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
    run_path(f"figures/{name}.{ext}")
    for name in (
        "delta_forest",
        "per_category_ap",
        "pim_distributions",
        "fid_vs_format",
    )
    for ext in ("png", "pdf")
]


def table_metric_files(name):
    return [
        run_path(f"metrics/{exp}/{stem}.json")
        for exp, stem in table_inputs(name, config)
    ]


def table_rule(name):
    """Inputs and outputs of the job writing table `name` (one job per table, so each rebuilds alone)."""
    return dict(
        metrics=table_metric_files(name),
        outputs=[
            run_path(f"tables/{TABLE_FILES[name]}.{ext}") for ext in TABLE_FORMATS
        ],
    )


def figure_files(stems):
    return [
        run_path(f"metrics/{exp}/{stem}.json")
        for exp in EXPERIMENTS
        for stem in stems
        if stem in metric_files(EXPERIMENTS[exp].get("metrics", []))
    ]


def all_table_metric_files():
    return sorted({f for name in TABLES for f in table_metric_files(name)})


def fig(name, caption, **labels):
    return report(
        run_path(f"figures/{name}.png"),
        caption=f"../report/{caption}.rst",
        category="Figures",
        labels={"figure": name, **labels},
    )


def qualitative_experiments():
    # A grid needs the real images beside the generated ones.
    return sorted(generated_experiments()) if REAL_EXPERIMENT is not None else []


def qualitative_figures():
    return [
        run_path(f"figures/qualitative_{exp}.{ext}")
        for exp in qualitative_experiments()
        for ext in ("png", "pdf")
    ]


def table_outputs():
    return [f for name in TABLES for f in getattr(rules, TABLE_RULES[name]).output]


def cost_tables():
    """The generation-cost table (rule generation_cost), when the config generates images."""
    if not generated_experiments():
        return []
    return [run_path(f"tables/generation_cost.{ext}") for ext in ("csv", "md")]


def all_targets():
    """The default target: every table and figure (and through them every metric the config asks for)."""
    return [
        *table_outputs(),
        *cost_tables(),
        *FIGURES,
        *qualitative_figures(),
        run_path("report.html"),
    ]
