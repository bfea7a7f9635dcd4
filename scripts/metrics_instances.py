"""Snakemake entry point: metrics/{experiment}/instances.jsonl, the per-instance records of an experiment."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.metrics.instances import instances_file

from_snakemake(snakemake)
inputs = snakemake.input
instances_file(snakemake.output[0], inputs.annotations, inputs.layouts, inputs.images, inputs.detections,
               snakemake.params.detector, snakemake.wildcards.experiment, snakemake.params.conf,
               masks={mode: inputs[f"masks_{mode}"] for mode in ("point", "scribble") if f"masks_{mode}" in inputs.keys()},
               attribute={v: inputs[f"attribute_{v}"] for v in ("gt", "detected") if f"attribute_{v}" in inputs.keys()})
