"""A job's log holds everything the job wrote: logging, prints, tqdm, a child process and the fatal traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap


JOB = textwrap.dedent("""
    import logging, subprocess, sys, types, warnings
    from tqdm import tqdm
    from instdiff.core.logging_setup import from_snakemake

    from_snakemake(types.SimpleNamespace(log=[sys.argv[1]]))
    logging.getLogger("instdiff.job").info("a logged line")
    print("a printed line")
    warnings.warn("a warning")
    for _ in tqdm(range(3), desc="a progress bar"):
        pass
    subprocess.run([sys.executable, "-c", "print('a child process line')"], check=True)
    raise RuntimeError("the job failed here")
""")


def test_everything_a_job_writes_reaches_its_log(tmp_path):
    log = tmp_path / "job.log"
    proc = subprocess.run([sys.executable, "-c", JOB, str(log)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    text = log.read_text()
    for expected in ("a logged line", "a printed line", "a warning", "a progress bar", "3/3",
                     "a child process line", "Traceback", "RuntimeError: the job failed here"):
        assert expected in text, f"{expected!r} missing from the log:\n{text}"
    assert proc.stdout == "" and proc.stderr == "", "output escaped the log"


def test_outside_snakemake_output_stays_on_the_terminal(tmp_path):
    code = ("import types; from instdiff.core.logging_setup import from_snakemake; "
            "from_snakemake(types.SimpleNamespace(log=[])); print('to the terminal')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "to the terminal"
