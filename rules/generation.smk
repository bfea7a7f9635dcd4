# Generation stage: layouts + converted InstanceDiffusion model -> images/{experiment}/{id}.png, in GPU shards.
#
# Contract for downstream rules: depend on run_path("images/{experiment}/done.json") and read the image list from it
# (instdiff.generation.shard.read_done). It is written only when every layout of the experiment has its image.
# Shard k of n takes the layouts at positions i with i % n == k of the canonical order (image_id, id); per-image
# seeds come from (run seed, experiment, image id), so the images do not depend on n. With generation.group_size
# B > 1, groups of B consecutive layouts are sampled together and shard k takes groups g % n == k. Images are not declared as
# outputs on purpose: a failed or killed shard keeps its finished images and a rerun generates only the missing.
# Each experiment's generator (config `model`: InstanceDiffusion or GLIGEN, instdiff/generation/generators.py) loads
# from model_folder(experiment) (rules/common.smk; rules/model.smk and hub_snapshot write the folders). An experiment
# with a `source` takes that experiment's layouts (rules/data.smk) and per-image seeds.

from instdiff.generation.shard import generation_threads, refiner_from_config
from instdiff.generation.settings import GenerationSettings
from instdiff.generation.precision import generation_precision


rule generate:
    input:
        layouts=run_path("layouts/{experiment}.jsonl"),
        model=lambda wc: model_folder(wc.experiment),
        refiner=lambda wc: hub_inputs(refiner_from_config(EXPERIMENTS[wc.experiment])),
    output:
        manifest=run_path("images/{experiment}/shards/{shard}-of-{nshards}.json"),
    log:
        log_file("generate/{experiment}/{shard}-of-{nshards}"),
    benchmark:
        BENCH("generate/{experiment}/{shard}-of-{nshards}")
    wildcard_constraints:
        experiment="|".join(generated_experiments()) or "(?!)",
        shard=r"\d+",
        nshards=r"\d+",
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("generate")
    # All the cores torch is pinned to. The smoke pins 1: two 1-thread shards side by side on its 2 cores use the
    # cores better than one 2-thread shard after another (smoke 5 min 40 s -> 4 min 45 s, benchmarks/README.md).
    threads: generation_threads(config["generation"], SMOKE)
    resources:
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
        mem_mb=by_attempt(4000 if SMOKE else 32000),
        runtime=generation_minutes,
    params:
        env=ENV("generate"),
        code=CODE("generation_shard"),
        device=DEVICE,
        out_dir=lambda wc: run_path(f"images/{wc.experiment}"),
        shard=lambda wc: int(wc.shard),
        nshards=lambda wc: int(wc.nshards),
        model=lambda wc: experiment_model(wc.experiment),
        run_seed=lambda wc: experiment_seed(seed_experiment(wc.experiment)),
        seed_experiment=lambda wc: seed_experiment(wc.experiment),
        settings=lambda wc: stable(
            GenerationSettings.from_config(
                EXPERIMENTS[wc.experiment], config["generation"], wc.experiment
            ).config_values()
        ),
        refiner=lambda wc: hub_local(refiner_from_config(EXPERIMENTS[wc.experiment])),
        image_format=config["generation"]["image_format"],
        precision=generation_precision(
            config["generation"], "generation section of the config"
        ),
        group_size=config["generation"]["group_size"],
        # Pinned from the config, not from the cores Snakemake grants: torch's CPU results depend on the count.
        torch_threads=generation_threads(config["generation"], SMOKE),
    script:
        "../scripts/generation_shard.py"


rule generate_done:
    input:
        layouts=run_path("layouts/{experiment}.jsonl"),
        manifests=lambda wc: [
            run_path(
                f"images/{wc.experiment}/shards/{k}-of-{experiment_shards(wc.experiment)}.json"
            )
            for k in range(experiment_shards(wc.experiment))
        ],
    output:
        done=run_path("images/{experiment}/done.json"),
    log:
        log_file("generate/{experiment}/done"),
    benchmark:
        BENCH("generate/{experiment}/done")
    wildcard_constraints:
        experiment="|".join(generated_experiments()) or "(?!)",
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("generate")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        env=ENV("generate"),
        code=CODE("generation_done"),
        out_dir=lambda wc: run_path(f"images/{wc.experiment}"),
    script:
        "../scripts/generation_done.py"
