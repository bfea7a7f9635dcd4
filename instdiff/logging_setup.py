"""Send a Snakemake job's Python logging and warnings to the rule's ``log:`` file."""

from __future__ import annotations

import logging
import sys

from instdiff.redact import SecretFilter, register_from_env


def setup(log_path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    register_from_env()
    for handler in handlers:  # a second net behind the scrubbing at the source: no secret reaches a log
        handler.addFilter(SecretFilter())
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", handlers=handlers, force=True)
    logging.captureWarnings(True)
    return logging.getLogger("instdiff")


def from_snakemake(snakemake) -> logging.Logger:
    """Use the rule's first log file (every rule has one), or stderr when run outside Snakemake."""
    log = list(getattr(snakemake, "log", []) or [])
    return setup(log[0] if log else None)
