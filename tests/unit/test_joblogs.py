"""A failed job's cause and fix in Snakemake's own output (issue 22 item 8): the onerror handler reads the job's log."""

import subprocess
import sys
from pathlib import Path

import pytest

from instdiff.core.joblogs import cause_of, failed_in_log

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = '''
onerror:
    from instdiff.core.joblogs import explain_failures

    explain_failures(log, logs_dir="results/logs")


rule bad:
    output: "results/out.txt"
    log: "results/logs/bad.log"
    shell: "{python} -c \\"from instdiff.core.errors import InputError; raise InputError('layouts/llm.jsonl', 'not valid JSON (Expecting value: line 1 column 1)', 'delete the cached reply and rerun llm_layouts', 'line 3')\\" > {{log}} 2>&1"


rule crash:
    output: "results/other.txt"
    log: "results/logs/crash.log"
    shell: "{python} -c \\"raise MemoryError('out of memory in the UNet')\\" > {{log}} 2>&1"


rule all:
    input: "results/out.txt", "results/other.txt"
    default_target: True
'''


@pytest.mark.parametrize("quiet", [False, True])
def test_a_failed_jobs_cause_and_fix_appear_in_snakemakes_output(tmp_path, quiet):
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(python=sys.executable))
    env = {"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--keep-going", *(["-q"] if quiet else [])],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("rule bad: InputError: layouts/llm.jsonl (field 'line 3'): not valid JSON (Expecting value: line 1 column 1)"
            in out), out[-3000:]
    assert "fix: delete the cached reply and rerun llm_layouts" in out
    assert "rule crash: MemoryError: out of memory in the UNet" in out
    if not quiet:       # the rerun command names the failed job's output
        assert "fix: after fixing the cause: snakemake --cores 1 results/other.txt" in out


def test_cause_of_reads_the_last_exception_line(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("INFO start\nTraceback (most recent call last):\n  File 'a.py'\n"
                   "ValueError: first\nDuring handling...\nultralytics.errors.HUBModelError: model not found\n")
    assert cause_of(log) == ("HUBModelError: model not found", None)
    log.write_text("")
    assert "empty" in cause_of(log)[0]
    text = ("Error in rule table1:\n    message: None\n    jobid: 3\n    output: results/t/a.md, results/t/a.csv\n"
            "    log: results/logs/t1.log (check log file(s) for error details)\n    conda-env: x\nShutting down\n")
    assert failed_in_log(text) == [("table1", "results/logs/t1.log", "results/t/a.md")]
