"""A retry of a job that failed on bad input ends at once; other failures, and a new workflow run, try again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from instdiff.core.attempts import RUN_ENV, marker_path

# A job as Snakemake runs a script: from_snakemake first, then the work (which here fails as argv[2] says).
JOB = textwrap.dedent("""
    import sys, types
    from instdiff.core.errors import InputError
    from instdiff.core.logging_setup import from_snakemake

    from_snakemake(types.SimpleNamespace(log=[sys.argv[1]]))
    print("WORK STARTED")
    if sys.argv[2] == "input":
        raise InputError("layouts/box.jsonl", "box outside the canvas", "fix the box", "instances[0].bbox")
    if sys.argv[2] == "killed":
        raise MemoryError("out of memory")
""")


def _attempt(log, failure: str, run: str | None):
    env = {k: v for k, v in os.environ.items() if k != RUN_ENV}
    if run:
        env[RUN_ENV] = run
    proc = subprocess.run([sys.executable, "-c", JOB, str(log), failure], env=env, capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, log.read_text()


def test_a_retry_after_bad_input_stops_before_any_work(tmp_path):
    log = tmp_path / "job.log"
    code, text = _attempt(log, "input", "run1")
    assert code != 0 and "WORK STARTED" in text and "box outside the canvas" in text
    assert marker_path(log).is_file()
    code, text = _attempt(log, "none", "run1")  # attempt 2 of the same run
    assert code != 0 and "WORK STARTED" not in text
    assert "not retried" in text and "box outside the canvas" in text


def test_other_failures_and_a_new_run_try_again(tmp_path):
    log = tmp_path / "job.log"
    code, text = _attempt(log, "killed", "run1")
    assert code != 0 and not marker_path(log).exists()
    assert _attempt(log, "none", "run1") == (0, "WORK STARTED\n")  # the retry works
    _attempt(log, "input", "run1")
    code, text = _attempt(log, "none", "run2")  # the user fixed the input and started the workflow again
    assert code == 0 and "WORK STARTED" in text and not marker_path(log).exists()


def test_outside_a_workflow_run_nothing_is_remembered(tmp_path):
    log = tmp_path / "job.log"
    _attempt(log, "input", None)
    assert not marker_path(log).exists()
    assert _attempt(log, "none", None)[0] == 0
