"""Send everything a Snakemake job writes to the rule's ``log:`` file: logging, warnings, prints, tqdm bars,
uncaught exceptions and the output of child processes and C libraries.

The catalog's way: the job's stdout and stderr *file descriptors* are pointed at the log, so nothing escapes it and
``--show-failed-logs`` shows the traceback (the SLURM plugin deletes the logs of successful jobs; this one stays).
"""

from __future__ import annotations

import logging
import os
import sys

from instdiff.core.redact import SecretFilter, register_from_env

FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def setup(log_path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Logging to stderr, and to ``log_path`` too when given (commands run outside Snakemake)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    register_from_env()
    for handler in handlers:  # a second net behind the scrubbing at the source: no secret reaches a log
        handler.addFilter(SecretFilter())
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    return logging.getLogger("instdiff")


def redirect_output(log_path: str) -> None:
    """Point file descriptors 1 and 2 (and so sys.stdout/stderr, subprocesses, C code) at ``log_path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # Line-buffered, so a job killed by SLURM leaves everything up to its last line in the log.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)


def from_snakemake(snakemake) -> logging.Logger:
    """Send the job's whole output to the rule's first log file (every rule has one); stderr outside Snakemake.
    A retry of a job that failed on bad input stops here (instdiff.core.attempts)."""
    from instdiff.core.io import clean_own_temps

    log = list(getattr(snakemake, "log", []) or [])
    if log:
        redirect_output(str(log[0]))
    logger = setup(None)
    if log:
        from instdiff.core.attempts import guard

        guard(log[0])
    # Every script starts here, so every atomic writer's leftovers of a killed earlier attempt of this job (shard
    # manifests, metric files, tables) go before it writes again; Snakemake deletes only the declared outputs.
    removed = clean_own_temps(str(p) for p in (getattr(snakemake, "output", []) or []))
    if removed:
        logger.info("removed %d temporary file(s) a killed earlier attempt left: %s", len(removed),
                    ", ".join(p.name for p in removed[:5]))
    return logger
