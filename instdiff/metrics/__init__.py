"""The metrics stage: COCO box/mask AP and AR, PiM, attribute binding, FID/KID, the LLM stage's CLIP score and
grounding IoU, and the metric registry and record schema that every writer and reader shares."""
