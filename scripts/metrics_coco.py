"""Snakemake entry point: coco_bbox.json / coco_segm.json / coco_bbox_segmodel.json of an experiment."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.files import coco_file

from_snakemake(snakemake)
coco_file(snakemake.input.annotations, snakemake.input.detections, snakemake.input.images, snakemake.input.manifest,
          snakemake.output[0], snakemake.params.iou_type, snakemake.wildcards.experiment,
          bootstrap_resamples=snakemake.params.bootstrap.get("coco_resamples", 1000),
          bootstrap_seed=snakemake.params.bootstrap.get("seed", 0), metric=snakemake.params.get("metric"))
