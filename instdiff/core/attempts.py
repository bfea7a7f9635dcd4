"""A job that failed on bad input does not try again.

Retries (``retries: 2`` in slurm/config.yaml) are for what can pass the second time: a job killed for time or
memory comes back with more (``by_attempt``, rules/common.smk), a lost node with another. An
:class:`~instdiff.core.errors.InputError` (a malformed layout, a checksum mismatch, a missing pin) fails the same
way every time. Snakemake restarts every failed job while it has retries left, whatever its exit status, so the
retry cannot be skipped from the job's side; it is made to end at once instead, before anything is loaded:

- the workflow's main process names its run (:func:`start_run`, rules/common.smk) in the environment, which its
  jobs inherit (local jobs as child processes, SLURM jobs through ``sbatch --export=ALL``);
- a job whose input error escapes leaves a marker beside its log (``<log>.input-error.json``: the run and the
  message);
- at the start of a job (:func:`guard`, called by ``instdiff.core.logging_setup.from_snakemake``), a marker of the
  same run means an earlier attempt of this job failed on bad input: the job stops at once with that message. A
  marker of another run is stale (the user fixed the input and started again) and is removed.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

from instdiff.core.errors import InputError
from instdiff.core.io import write_json

RUN_ENV = "INSTDIFF_WORKFLOW_RUN"


def start_run(environ=None) -> str:
    """Name this workflow run (in the main Snakemake process only, once per invocation)."""
    environ = os.environ if environ is None else environ
    environ[RUN_ENV] = uuid.uuid4().hex
    return environ[RUN_ENV]


def marker_path(log_path: str | Path) -> Path:
    return Path(f"{log_path}.input-error.json")


def guard(log_path: str | Path) -> None:
    """Stop at once if an earlier attempt of this job in this run failed on bad input; else record such a failure
    of this attempt when it happens (``sys.excepthook``: the exception still prints its traceback)."""
    run = os.environ.get(RUN_ENV)
    marker = marker_path(log_path)
    if marker.exists():
        try:
            earlier = json.loads(marker.read_text())
        except (OSError, ValueError):
            earlier = {}
        if run and earlier.get("run") == run:
            raise InputError(earlier.get("path"), f"not retried: an earlier attempt of this job failed on bad input, "
                             f"which fails the same way every time ({earlier.get('error')})",
                             "fix that input, then run the workflow again")
        marker.unlink(missing_ok=True)
    if not run:
        return  # outside a workflow run (a script run by hand): nothing to remember

    previous = sys.excepthook

    def record(kind, error, tb):
        if isinstance(error, InputError):
            try:
                write_json(marker, {"run": run, "path": error.path, "error": str(error)})
            except OSError:
                pass  # the traceback below still says what failed
        previous(kind, error, tb)

    sys.excepthook = record
