"""Open-vocabulary detectors native to ``transformers`` (no remote code): Grounding DINO and OWLv2.

Both are queried with each instance's phrase (:func:`instdiff.llm.scorers.base.layout_queries`) and return
:class:`Detection` boxes in normalised corners, labelled with the category of the instance whose phrase found them.
Checkpoints load with ``from_pretrained(name_or_path, revision=...)``: a hub id at a pinned revision on the cluster,
the tiny local folders of :mod:`instdiff.llm.scorers.tiny` in the smoke run.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from instdiff.llm.scorers.base import Detection, Query
from instdiff.core.layout import clip_unit, normalize_xyxy

log = logging.getLogger(__name__)


def require_revision(settings: dict[str, Any]) -> None:
    """A hub id loads only at a pinned commit (a branch such as ``main`` can change under a release run); a local
    folder (the smoke run's tiny models) needs none."""
    import re
    from pathlib import Path

    from instdiff.core.errors import InputError

    if Path(settings["model"]).is_dir():
        return
    revision = settings.get("revision")
    if not (isinstance(revision, str) and re.fullmatch(r"[0-9a-f]{40}", revision)):
        kind = settings.get("kind", "scorer")
        raise InputError(None, f"{settings['model']} has no pinned revision ({revision!r})",
                         f"set llm.grounding.scorers.<name>.revision to the 40-hex commit you checked "
                         f"(https://huggingface.co/{settings['model']}/commits/main)", f"{kind}.revision")


def _load(settings: dict[str, Any], device: str):
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    require_revision(settings)
    kwargs = {"revision": settings["revision"]} if settings.get("revision") else {}
    processor = AutoProcessor.from_pretrained(settings["model"], **kwargs)
    model = AutoModelForZeroShotObjectDetection.from_pretrained(settings["model"], **kwargs).to(device).eval()
    # The commit actually loaded (hub downloads record it): logged so an unpinned revision can be pinned afterwards.
    log.info("loaded %s (revision %s, resolved commit %s)", settings["model"], settings.get("revision"), getattr(model.config, "_commit_hash", None))
    return processor, model


class GroundingDinoScorer:
    """Grounding DINO: one forward per distinct phrase (text ``"<phrase>."``, lower-case, as the model expects), so
    every box is attributed to exactly one instance phrase without mapping token spans back."""

    name = "grounding_dino"

    def __init__(self, settings: dict[str, Any], device: str = "cpu"):
        self.box_threshold = float(settings.get("box_threshold", 0.25))
        self.text_threshold = float(settings.get("text_threshold", 0.25))
        self.batch_size = int(settings.get("batch_size", 8))
        self.device = device
        self.processor, self.model = _load(settings, device)

    @staticmethod
    def prompt(phrase: str) -> str:
        return phrase.strip().lower().rstrip(".") + "."

    def detect(self, image, queries: Sequence[Query]) -> tuple[list[Detection], None]:
        import torch

        image = image.convert("RGB")
        width, height = image.size
        detections: list[Detection] = []
        for start in range(0, len(queries), self.batch_size):
            chunk = list(queries[start : start + self.batch_size])
            inputs = self.processor(
                images=[image] * len(chunk), text=[self.prompt(q.phrase) for q in chunk], return_tensors="pt", padding=True, truncation=True
            ).to(self.device)
            with torch.no_grad():
                outputs = self.model(**inputs)
            results = self.processor.post_process_grounded_object_detection(
                outputs, inputs["input_ids"], threshold=self.box_threshold, text_threshold=self.text_threshold,
                target_sizes=[(height, width)] * len(chunk),
            )
            for query, result in zip(chunk, results):
                for box, score in zip(result["boxes"].tolist(), result["scores"].tolist()):
                    norm = clip_unit(normalize_xyxy(box, width, height))
                    detections.append(Detection(query.label, norm, float(score), query.phrase))
        return detections, None


class Owlv2Scorer:
    """OWLv2: all phrases of an image in one forward; each box gets the phrase with the highest score.

    The processor pads to a square, so post-processing is given the padded size ``max(W, H)`` for both sides and the
    boxes are then divided by the original W and H (:func:`instdiff.core.layout.normalize_xyxy`): the padding sits
    right and bottom, so pixel coordinates of the square are pixel coordinates of the image."""

    name = "owlv2"

    def __init__(self, settings: dict[str, Any], device: str = "cpu"):
        self.threshold = float(settings.get("threshold", 0.1))
        self.device = device
        self.processor, self.model = _load(settings, device)

    def detect(self, image, queries: Sequence[Query]) -> tuple[list[Detection], None]:
        import torch

        image = image.convert("RGB")
        width, height = image.size
        side = max(width, height)
        phrases = [q.phrase for q in queries]
        inputs = self.processor(text=[phrases], images=image, return_tensors="pt", truncation=True).to(self.device)
        with torch.no_grad():
            outputs = self.model(**inputs)
        result = self.processor.post_process_grounded_object_detection(outputs, threshold=self.threshold, target_sizes=[(side, side)])[0]
        detections = []
        for box, score, label in zip(result["boxes"].tolist(), result["scores"].tolist(), result["labels"].tolist()):
            query = queries[int(label)]
            detections.append(Detection(query.label, clip_unit(normalize_xyxy(box, width, height)), float(score), query.phrase))
        return detections, None


def build_scorer(name: str, settings: dict[str, Any], device: str = "cpu"):
    """The scorer for a ``llm.grounding.scorers`` entry (``kind``: grounding_dino | owlv2 | cogvlm)."""
    kind = settings.get("kind", name)
    if kind == "grounding_dino":
        return GroundingDinoScorer(settings, device)
    if kind == "owlv2":
        return Owlv2Scorer(settings, device)
    if kind == "cogvlm":
        from instdiff.llm.scorers.cogvlm import CogVLMScorer

        return CogVLMScorer(settings, device)
    raise ValueError(f"unknown scorer kind {kind!r} (grounding_dino | owlv2 | cogvlm)")
