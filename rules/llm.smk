# The LLM extension: layouts (replayed GPT-4o replies or an OpenAI-compatible API) -> images (generation stage,
# experiment `llm`) -> grounding per scorer, global CLIP score, and the table of published vs ours.
#
# Contract with the generation stage: rule llm_layouts writes run_path("layouts/llm.jsonl"); rules/generation.smk turns it into
# run_path("images/llm/done.json") with the settings of experiments.llm (box config, alpha 0.8, mis 0.2, guidance 7.5).
# The API key is read from OPENAI_API_KEY in the job's environment, never from config.


# Network only on the submit host: the extension's GitHub files, the OpenAI-compatible API when source is api, and
# the CLIP weights.
localrules:
    llm_extension_files,
    llm_layouts,


rule llm:
    """Named target: the LLM extension's table (and everything it needs)."""
    input:
        LLM_TARGETS,


rule llm_extension_files:
    """The extension's shipped files at its pinned commit (only when config points into resources/extension)."""
    output:
        directory(LLM_EXTENSION_FILES["layouts"]),
        LLM_EXTENSION_FILES["pred"],
        LLM_EXTENSION_FILES["gt"],
        sources=LLM_EXTENSION_FILES["sources"],
    log:
        log_file("llm/extension_files"),
    benchmark:
        BENCH("llm/extension_files")
    retries: 2
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=500,
        runtime=15,
    params:
        env=ENV("llm"),
        code=CODE("llm_extension_files"),
        out_dir=lambda wc, output: parent_dir(output.sources),
    script:
        "../scripts/llm_extension_files.py"


rule llm_layouts:
    input:
        replay=llm_replay_input,
    output:
        layouts=run_path("llm/layouts.jsonl"),
        generation=run_path("layouts/llm.jsonl"),
        requests=run_path("llm/requests.jsonl"),
    log:
        main=log_file("llm/layouts"),
        # What was exchanged, written when the job fails: Snakemake deletes the outputs of a failed job, not its logs.
        requests=run_path("logs/llm/layouts.requests.jsonl"),
    benchmark:
        BENCH("llm/layouts")
    # Early: its images, then the grounding and CLIP jobs, otherwise ran last and alone (benchmarks/README.md).
    priority: CRITICAL_PATH_PRIORITY
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=120,
    params:
        env=ENV("llm"),
        code=CODE("llm_layouts"),
        section=stable(llm_layout_settings()),
        seed=config["seed"],
        cache_dir=resource_path("llm_cache"),  # shared by runs: the same request is never paid twice
    script:
        "../scripts/llm_layouts.py"


rule llm_visualize:
    """One picture per layout: intended boxes (green), boxes given to the generator (red), phrases."""
    input:
        layouts=run_path("llm/layouts.jsonl"),
    output:
        # The folder holds {id}.png per layout and index.json; the report shows every picture.
        report(
            directory(run_path("llm/layout_images")),
            patterns=["{id}.png"],
            caption="../report/llm_layouts.rst",
            category="LLM extension",
            labels={"figure": "layout {id}"},
        ),
    log:
        log_file("llm/visualize"),
    benchmark:
        BENCH("llm/visualize")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        env=ENV("llm"),
        code=CODE("llm_visualize"),
        out_dir=lambda wc, output: output[0],
    script:
        "../scripts/llm_visualize.py"


rule llm_tiny_scorer:
    output:
        directory(run_path("models/llm/{scorer}")),
    log:
        log_file("llm/tiny_{scorer}"),
    benchmark:
        BENCH("llm/tiny_{scorer}")
    wildcard_constraints:
        scorer="|".join(n for n in LLM_DETECTORS if LLM_SCORERS[n].get("tiny"))
        or "(?!)",
    priority: CRITICAL_PATH_PRIORITY
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        env=ENV("llm"),
        code=CODE("llm_tiny_scorer"),
        kind=lambda wc: LLM_SCORERS[wc.scorer]["kind"],
        seed=config["seed"],
    script:
        "../scripts/llm_tiny_scorer.py"


if LLM_CLIP.get("tiny"):

    rule llm_tiny_clip:
        """The smoke's stand-in for the CLIP download: a tiny random open_clip model in the hub file's format
        (safetensors state dict + record) with the real model's preprocessing, loaded by the same code.
        """
        output:
            weights=LLM_CLIP_WEIGHTS,
            record=f"{LLM_CLIP_WEIGHTS}.json",
        log:
            log_file("llm/tiny_clip"),
        benchmark:
            BENCH("llm/tiny_clip")
        priority: CRITICAL_PATH_PRIORITY
        retries: 0  # deterministic: a retry would fail the same way
        conda:
            conda_env("llm")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            env=ENV("llm"),
            code=CODE("llm_tiny_clip"),
            seed=config["seed"],
            arch=LLM_CLIP.get("arch", "ViT-B-32-quickgelu"),
            pretrained=LLM_CLIP.get("pretrained", "openai"),
        script:
            "../scripts/llm_tiny_clip.py"

else:

    localrules:
        llm_clip_download,

    rule llm_clip_download:
        """The OpenAI ViT-B/32 weights (open_clip's hub file) at the pinned commit, checked against the pinned sha256,
        into protected resources/ on the submit host; llm_clip's job loads this local file with the hub offline.
        """
        output:
            weights=protected(LLM_CLIP_RELEASE),
            record=protected(f"{LLM_CLIP_RELEASE}.json"),
        log:
            log_file("llm/clip_download"),
        benchmark:
            BENCH("llm/clip_download")
        retries: 2
        conda:
            conda_env("llm")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            env=ENV("llm"),
            code=CODE("llm_clip_download"),
            arch=LLM_CLIP.get("arch", "ViT-B-32-quickgelu"),
            pretrained=LLM_CLIP.get("pretrained", "openai"),
            revision=LLM_CLIP.get("revision"),
            sha256=LLM_CLIP.get("sha256"),
        script:
            "../scripts/llm_clip_download.py"


rule llm_grounding:
    """Open-vocabulary detectors (transformers-native) queried with each instance's phrase."""
    input:
        layouts=run_path("llm/layouts.jsonl"),
        done=run_path("images/llm/done.json"),
        model=llm_scorer_model,
    output:
        run_path("llm/detections/{scorer}/{variant}.jsonl"),
    log:
        log_file("llm/grounding_{scorer}_{variant}"),
    benchmark:
        BENCH("llm/grounding_{scorer}_{variant}")
    wildcard_constraints:
        scorer="|".join(LLM_DETECTORS) or "(?!)",
        variant="|".join(LLM_VARIANTS),
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("llm")
    threads: cores(8)
    resources:
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
        mem_mb=4000 if SMOKE else 32000,
        runtime=20 if SMOKE else 120,
    params:
        env=ENV("llm"),
        code=CODE("llm_grounding"),
        device=DEVICE,
        settings=lambda wc: stable(llm_scorer_settings(wc.scorer)),
        images_dir=lambda wc, input: parent_dir(input.done),
        image_format=config["generation"]["image_format"],
    script:
        "../scripts/llm_grounding.py"


rule llm_grounding_vlm:
    """CogVLM grounding: remote code under an older transformers (envs/cogvlm.yaml), one A100-class GPU."""
    input:
        layouts=run_path("llm/layouts.jsonl"),
        done=run_path("images/llm/done.json"),
        model=llm_scorer_model,
    output:
        run_path("llm/detections/{scorer}/{variant}.jsonl"),
    log:
        log_file("llm/grounding_{scorer}_{variant}"),
    benchmark:
        BENCH("llm/grounding_{scorer}_{variant}")
    wildcard_constraints:
        scorer="|".join(LLM_VLMS) or "(?!)",
        variant="|".join(LLM_VARIANTS),
    conda:
        conda_env("cogvlm")
    threads: 8
    resources:
        gpu=1,
        mem_mb=64000,
        runtime=240,
    params:
        env=ENV("cogvlm"),
        code=CODE("llm_grounding"),
        device=DEVICE,
        settings=lambda wc: stable(llm_scorer_settings(wc.scorer)),
        images_dir=lambda wc, input: parent_dir(input.done),
        image_format=config["generation"]["image_format"],
    script:
        "../scripts/llm_grounding.py"


rule llm_grounding_metrics:
    input:
        layouts=run_path("llm/layouts.jsonl"),
        detections=expand(
            run_path("llm/detections/{{scorer}}/{variant}.jsonl"), variant=LLM_VARIANTS
        ),
    output:
        run_path("llm/grounding/{scorer}.json"),
    log:
        log_file("llm/grounding_metrics_{scorer}"),
    benchmark:
        BENCH("llm/grounding_metrics_{scorer}")
    wildcard_constraints:
        scorer="|".join(LLM_SCORERS) or "(?!)",
    priority: CRITICAL_PATH_PRIORITY
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        env=ENV("llm"),
        code=CODE("llm_grounding_metrics"),
        variants=LLM_VARIANTS,
        matching=LLM.get("grounding", {}).get("matching", "hungarian"),
    script:
        "../scripts/llm_grounding_metrics.py"


rule llm_grounding_legacy:
    """The published CogVLM IoU (0.42) recomputed from the extension's shipped box files, and read correctly."""
    input:
        pred=LLM.get("legacy", {}).get("pred", LLM_EXTENSION_FILES["pred"]),
        gt=LLM.get("legacy", {}).get("gt", LLM_EXTENSION_FILES["gt"]),
    output:
        run_path("llm/grounding/legacy.json"),
    log:
        log_file("llm/grounding_legacy"),
    benchmark:
        BENCH("llm/grounding_legacy")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        env=ENV("llm"),
        code=CODE("llm_grounding_legacy"),
    script:
        "../scripts/llm_grounding_legacy.py"


rule llm_clip:
    input:
        layouts=run_path("llm/layouts.jsonl"),
        done=run_path("images/llm/done.json"),
        weights=LLM_CLIP_WEIGHTS,
    output:
        run_path("llm/clip.json"),
    log:
        log_file("llm/clip"),
    benchmark:
        BENCH("llm/clip")
    priority: CRITICAL_PATH_PRIORITY
    conda:
        conda_env("llm")
    threads: cores(8)
    resources:
        gpu=1,  # always: the scheduler sees the real request (device: cpu computes on the CPU)
        mem_mb=4000 if SMOKE else 16000,
        runtime=20 if SMOKE else 60,
    params:
        env=ENV("llm"),
        code=CODE("llm_clip"),
        device=DEVICE,
        settings=stable(llm_clip_settings()),
        variants=LLM_VARIANTS,
        images_dir=lambda wc, input: parent_dir(input.done),
        image_format=config["generation"]["image_format"],
        seed=config["seed"],
    script:
        "../scripts/llm_clip.py"


rule llm_table:
    input:
        layouts=run_path("llm/layouts.jsonl"),
        grounding=expand(
            run_path("llm/grounding/{scorer}.json"), scorer=list(LLM_SCORERS)
        ),
        legacy=run_path("llm/grounding/legacy.json"),
        clip=run_path("llm/clip.json"),
    output:
        csv=report(
            run_path("tables/llm.csv"),
            caption="../report/llm_table.rst",
            category="LLM extension",
            labels={"table": "llm"},
        ),
        md=run_path("tables/llm.md"),
    log:
        log_file("llm/table"),
    benchmark:
        BENCH("llm/table")
    retries: 0  # deterministic: a retry would fail the same way
    conda:
        conda_env("llm")
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        env=ENV("llm"),
        code=CODE("llm_table"),
        published=stable(LLM.get("published", {})),
    script:
        "../scripts/llm_table.py"
