"""The data stage: COCO download and derivation, the synthetic set, real images, layouts' sources, hub downloads."""
