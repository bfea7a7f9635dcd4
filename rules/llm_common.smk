# Helpers of the LLM stage (constants and functions only; the rules are in llm.smk).

LLM = config.get("llm", {})
LLM_SCORERS = LLM.get("grounding", {}).get("scorers", {})
LLM_VARIANTS = LLM.get("image_variants", ["raw"])
LLM_DETECTORS = [n for n, s in LLM_SCORERS.items() if s["kind"] != "cogvlm"]
LLM_VLMS = [n for n, s in LLM_SCORERS.items() if s["kind"] == "cogvlm"]
LLM_EXTENSION_FILES = {
    "layouts": RES("extension/gpt4o-layouts-2024-05-19"),
    "pred": RES("extension/converted_cogvlm_bboxes.json"),
    "gt": RES("extension/bounding_boxes_chatgpt.json"),
    "sources": RES("extension/sources.json"),
}


# No `envvars: "OPENAI_API_KEY"`: it would make every dry-run of the paper config demand the key. The key reaches
# jobs through the environment (local runs; sbatch exports it by default); rule llm_layouts fails with a clear message
# before any request when it is missing.


# Keys of llm.api that change how requests travel, not what comes back: kept out of rule llm_layouts' params so that
# editing them reruns nothing (the job still reads them, from the config).
LLM_TRANSPORT_KEYS = ("timeout_s", "max_attempts", "backoff_s", "backoff_max_s")
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
    rules/hub.smk (the job loads them offline; the pinned revisions stay, checked at load and recorded).
    """
    settings = dict(LLM_SCORERS[name])
    if settings.get("tiny"):
        settings["model"] = R(f"models/llm/{name}")
        return settings
    for key in ("model", "tokenizer"):
        if is_hub_id(settings.get(key)):
            settings[f"{key}_repo"] = settings[key]
            settings[key] = hub_local(settings[key])
    return settings


def llm_scorer_model(wildcards):
    scorer = LLM_SCORERS[wildcards.scorer]
    if scorer.get("tiny"):
        return [R(f"models/llm/{wildcards.scorer}")]
    return hub_inputs(scorer.get("model"), scorer.get("tokenizer"))


LLM_CLIP = LLM.get("clip", {})
# The OpenAI ViT-B/32 file as the hub publishes it (rule llm_clip_download); the smoke's tiny model in that format.
LLM_CLIP_RELEASE = RES(
    f"models/llm_clip/{LLM_CLIP.get('arch', 'ViT-B-32-quickgelu')}_"
    f"{LLM_CLIP.get('pretrained', 'openai')}.safetensors"
)
LLM_CLIP_WEIGHTS = (
    R("models/llm/clip/tiny-clip.safetensors")
    if LLM_CLIP.get("tiny")
    else LLM_CLIP_RELEASE
)


def llm_clip_settings():
    """The settings of the llm_clip job, with the local weights file it loads (never a tag open_clip would fetch)."""
    return {**LLM_CLIP, "weights": LLM_CLIP_WEIGHTS}


def llm_clip_pins():
    """Config key -> value of what pins the CLIP download (checked before submission, rules/hub.smk)."""
    if not LLM.get("enabled", True) or LLM_CLIP.get("tiny"):
        return {}
    return {
        "llm.clip.revision": LLM_CLIP.get("revision"),
        "llm.clip.sha256": LLM_CLIP.get("sha256"),
    }


def llm_replay_input(wildcards):
    return [LLM["replay"]["dir"]] if LLM.get("source", "replay") == "replay" else []


LLM_TARGETS = (
    [R("tables/llm.csv"), R("tables/llm.md"), R("llm/layout_images")]
    if LLM.get("enabled", True)
    else []
)


def parent_dir(path):
    return str(Path(path).parent)
