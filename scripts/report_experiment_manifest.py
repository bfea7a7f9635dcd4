"""Rule experiment_manifest: one experiment's manifest (instdiff.core.provenance.write_experiment_manifest)."""
from instdiff.core.logging_setup import from_snakemake
from instdiff.core.provenance import write_experiment_manifest

from_snakemake(snakemake)
write_experiment_manifest(snakemake.output[0], snakemake.input.run, snakemake.params.config)
