"""CogVLM grounding (``THUDM/cogvlm-grounding-generalist-hf``) as a scorer: image -> labelled boxes.

The model answers in text with boxes as ``[[x0,y0,x1,y1]]`` integers in 0..999 of the image; a group
``[[a;b;...]]`` names several instances of the phrase before it. Unlike the extension, every box of a group is kept,
labels keep all their words ("traffic light"), and coordinates are divided by 1000 (the model card's grid), not
rescaled to a fixed 512-px canvas. The model needs ``trust_remote_code`` (it is not native to ``transformers``) and an
older ``transformers`` (envs/cogvlm.yaml); the revision is pinned in config so the remote code cannot change under us.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from instdiff.llm.scorers.base import Detection
from instdiff.core.layout import cogvlm_to_norm_xyxy, norm_xyxy_to_cogvlm

log = logging.getLogger(__name__)

# The model card's grounding query.
GROUNDING_QUERY = "Can you provide a description of the image and include the coordinates [[x0,y0,x1,y1]] for each mentioned object?"

_BOX = r"\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}"
GROUP = re.compile(rf"\[\[\s*({_BOX}(?:\s*;\s*{_BOX})*)\s*\]\]")
_CLAUSE_END = re.compile(r"[.!?;:,()\[\]]")
# Words that end a noun phrase when read backwards from the box: determiners, numerals, prepositions, conjunctions,
# auxiliaries. Walking back from the box, the label is every word up to (not including) the first of these.
_BOUNDARY = set(
    """a an the this that these those some several many few each every another one two three four five six seven eight
    nine ten his her their its our my your with and or but on in of at to by near next behind under over above below
    beside besides from for is are was were be been has have had while who which that there into onto across along
    around between against among inside outside atop upon as""".split()
)


def format_group(boxes: list[tuple[int, int, int, int]]) -> str:
    """The model's notation for one phrase's boxes (used by tests and for round trips)."""
    return "[[" + ";".join(",".join(f"{v:03d}" for v in b) for b in boxes) + "]]"


def _label_before(text: str) -> str:
    clause = _CLAUSE_END.split(text)[-1]
    words = clause.split()
    label: list[str] = []
    for k, word in enumerate(reversed(words)):
        w = word.lower()
        # An -ing verb ("riding") ends the phrase too, except as the phrase's own last word ("building").
        if w in _BOUNDARY or (k > 0 and w.endswith("ing") and len(w) > 4):
            break
        label.append(word)
    return " ".join(reversed(label)).strip(" '\"")


def parse_grounding(text: str) -> list[Detection]:
    """Every box of every ``[[...;...]]`` group in a CogVLM answer, with the noun phrase written before it.

    Boxes come back in the canonical form (normalised corners, 0..999 divided by 1000). A group with no readable
    phrase before it gets the label ``""`` (kept: it still counts as a prediction for precision).
    """
    detections = []
    start = 0
    for match in GROUP.finditer(text):
        label = _label_before(text[start : match.start()])
        for raw in match.group(1).split(";"):
            values = [int(v) for v in raw.split(",")]
            detections.append(Detection(label=label, box=cogvlm_to_norm_xyxy(values), score=None, text=label))
        start = match.end()
    return detections


def to_cogvlm_text(detections: list[Detection]) -> str:
    """Detections -> an answer in CogVLM's notation (inverse of :func:`parse_grounding`, for round-trip tests)."""
    return " ".join(f"a {d.label} {format_group([norm_xyxy_to_cogvlm(d.box)])}" for d in detections) + "."


COMMIT = re.compile(r"[0-9a-f]{40}")


def check_pinned(settings: dict[str, Any]) -> None:
    """CogVLM runs the hub's Python code (``trust_remote_code``): only at a pinned commit, never a branch like
    ``main`` that can change under us."""
    from instdiff.core.errors import InputError

    for key in ("revision", "tokenizer_revision"):
        value = settings.get(key)
        if not (isinstance(value, str) and COMMIT.fullmatch(value)):
            raise InputError(None, f"{key} is {value!r}, not a 40-hex commit; CogVLM runs remote code",
                             "pin the commit you reviewed (e.g. the one in config/config.yaml)",
                             f"llm.grounding.scorers.cogvlm.{key}")


class CogVLMScorer:
    """Loads the model once; :meth:`detect` runs the grounding query on one image (greedy decoding)."""

    name = "cogvlm"

    def __init__(self, settings: dict[str, Any], device: str = "cuda"):
        import torch
        from transformers import AutoModelForCausalLM, LlamaTokenizer

        check_pinned(settings)
        self.settings = settings
        self.device = device
        self.query = settings.get("query", GROUNDING_QUERY)
        self.max_new_tokens = int(settings.get("max_new_tokens", 1024))
        self.tokenizer = LlamaTokenizer.from_pretrained(settings["tokenizer"], revision=settings["tokenizer_revision"])
        self.model = (
            AutoModelForCausalLM.from_pretrained(
                settings["model"],
                revision=settings["revision"],
                torch_dtype=getattr(torch, settings.get("dtype", "bfloat16")),
                low_cpu_mem_usage=True,
                trust_remote_code=True,
            )
            .to(device)
            .eval()
        )

    def answer(self, image) -> str:
        import torch

        inputs = self.model.build_conversation_input_ids(self.tokenizer, query=self.query, history=[], images=[image])
        dtype = next(self.model.parameters()).dtype
        batch = {
            "input_ids": inputs["input_ids"].unsqueeze(0).to(self.device),
            "token_type_ids": inputs["token_type_ids"].unsqueeze(0).to(self.device),
            "attention_mask": inputs["attention_mask"].unsqueeze(0).to(self.device),
            "images": [[inputs["images"][0].to(self.device).to(dtype)]],
        }
        with torch.no_grad():
            out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False)
        return self.tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)

    def detect(self, image, queries=None) -> tuple[list[Detection], str]:
        """CogVLM is not queried per instance: it names what it sees. Returns (detections, raw answer)."""
        text = self.answer(image.convert("RGB"))
        return parse_grounding(text), text
