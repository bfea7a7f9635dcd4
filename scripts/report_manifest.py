"""Rule manifest: write the run manifest (instdiff.core.provenance.write_manifest)."""
from pathlib import Path

from instdiff.core.logging_setup import from_snakemake
from instdiff.core.provenance import write_manifest

from_snakemake(snakemake)
# snakemake.scriptdir is scripts/ of this checkout: the git commit is read from its parent.
write_manifest(snakemake.output[0], snakemake.params.config, Path(snakemake.scriptdir).parent,
               checksum_files=list(snakemake.input.checksums))
