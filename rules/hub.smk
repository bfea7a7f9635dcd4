# Hub checkpoints (SDXL refiner, Grounding DINO, OWLv2, CogVLM and its Vicuna tokenizer) fetched once at a pinned
# commit into resources/hub/<org>--<name>/ by a localrule on the submit host; compute jobs get the local folder and
# never reach the network. Set HF_HOME to project storage too (README): libraries cache other files there.
# Before anything is submitted (onstart and download_pins, rules/common.smk), every download of the run must be
# pinned: a null or floating revision (or checksum) stops the run and names the config keys to set.


localrules:
    hub_snapshot,


rule hub_snapshot:
    output:
        snapshot=protected(directory(RES("hub/{name}"))),
        record=protected(RES("hub/{name}.json")),
    log:
        LOG("hub/{name}"),
    benchmark:
        BENCH("hub/{name}")
    wildcard_constraints:
        name=one_of(list(HUB)),
    retries: 2
    conda:
        ENV("llm")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        repo=lambda wc: HUB[wc.name]["repo"],
        revision=lambda wc: HUB[wc.name]["revision"],
        config_key=lambda wc: HUB[wc.name]["key"],
    script:
        "../scripts/hub_snapshot.py"
