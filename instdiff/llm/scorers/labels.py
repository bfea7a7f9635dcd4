"""Free-text labels (what a VLM calls an object) -> the layout's label vocabulary, for per-label matching.

A label maps to a COCO category when, after lower-casing, it is one, ends with one ("red traffic light" -> "traffic
light"), or its last word is one after a plural 's' is dropped or through a small synonym table (people words ->
person, "bike" -> bicycle, ...). Anything else stays as written (lower-case), so out-of-vocabulary layout labels
("tractor") can still match the same word.
"""

from __future__ import annotations

from instdiff.llm.vocab import COCO_CATEGORIES

# Words a grounding VLM uses for COCO objects; our table (head nouns only).
SYNONYMS = {
    **dict.fromkeys(["man", "men", "woman", "women", "boy", "girl", "child", "children", "kid", "kids", "people",
                     "lady", "guy", "worker", "player", "rider", "skier", "surfer", "pedestrian", "persons", "adult",
                     "baby", "jogger", "cyclist", "farmer", "chef", "waiter", "customer", "student"], "person"),
    "bike": "bicycle", "motorbike": "motorcycle", "plane": "airplane", "aeroplane": "airplane", "lorry": "truck",
    "puppy": "dog", "kitten": "cat", "lamb": "sheep", "calf": "cow", "cattle": "cow", "sofa": "couch",
    "table": "dining table", "desk": "dining table", "television": "tv", "monitor": "tv", "phone": "cell phone",
    "cellphone": "cell phone", "smartphone": "cell phone", "ball": "sports ball", "football": "sports ball",
    "soccer ball": "sports ball", "doughnut": "donut", "fridge": "refrigerator", "plant": "potted plant",
    "racket": "tennis racket", "glass": "wine glass", "mug": "cup", "bag": "handbag", "purse": "handbag",
}


def to_category(label: str) -> str:
    """The COCO category a free-text label names, else the label itself (lower-case, single-spaced)."""
    text = " ".join(str(label).lower().replace("-", " ").split()).strip(" .,;:")
    if text in COCO_CATEGORIES:
        return text
    for name in sorted(COCO_CATEGORIES, key=len, reverse=True):
        if text.endswith(" " + name):
            return name
    if text in SYNONYMS:
        return SYNONYMS[text]
    words = text.split()
    for candidate in ([" ".join(words[-2:])] if len(words) >= 2 else []) + words[-1:]:
        for form in (candidate, candidate[:-1] if candidate.endswith("s") else None, candidate[:-2] if candidate.endswith("es") else None):
            if form and form in COCO_CATEGORIES:
                return form
            if form and form in SYNONYMS:
                return SYNONYMS[form]
    return text
