"""The pinned conda env of each stage, by the stage names rules and the metric registry use.

The stages that run torch share one env (``envs/torch.yaml``): one torch stack to create and store, not five.
CogVLM's remote code needs an older stack (``envs/cogvlm.yaml``); the report stage needs no torch.
"""

from __future__ import annotations

ENV_FILES = {
    "generate": "torch",
    "detect": "torch",
    "clip": "torch",
    "eval": "torch",
    "llm": "torch",
    "cogvlm": "cogvlm",
    "report": "report",
}


def env_file(stage: str) -> str:
    """``envs/<file>.yaml`` of a stage, relative to the workflow root."""
    return f"envs/{ENV_FILES[stage]}.yaml"
