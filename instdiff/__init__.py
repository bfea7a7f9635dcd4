"""instdiff: a reproducible pipeline for InstanceDiffusion (Wang et al., CVPR 2024).

The package holds all logic; Snakemake rules call it through thin scripts in ``scripts/``.
"""

__version__ = "0.1.0"
