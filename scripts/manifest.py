"""Rule manifest: write the run manifest (instdiff.provenance.write_manifest)."""
from instdiff.logging_setup import from_snakemake
from instdiff.provenance import write_manifest

from_snakemake(snakemake)
write_manifest(snakemake.output[0], snakemake.params.config, snakemake.params.root,
               checksum_files=list(snakemake.input.checksums))
