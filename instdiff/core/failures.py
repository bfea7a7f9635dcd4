"""Why a job failed, in Snakemake's own output: the ``onerror`` handler of the Snakefile calls
:func:`failure_report` so the terminal shows each failed job's cause and what to do, not only "check log file(s)".

Snakemake passes ``onerror`` the run's log (``.snakemake/log/*.snakemake.log``). Each failed job there has a block

    Error in rule annotations_512:
        message: None
        jobid: 0
        output: results/smoke/data/annotations_512.json
        log: results/smoke/logs/annotations_512/annotations_512.log (check log file(s) for error details)

(group jobs list ``rule NAME:`` with ``output:`` and ``log:`` under ``jobs:``). :func:`failed_jobs` reads these blocks;
:func:`cause` reads a job's own log, where :func:`instdiff.core.logging_setup.from_snakemake` sends everything the job
wrote: an uncaught exception ends it with Python's traceback, whose last line is the exception, e.g.
``instdiff.core.errors.InputError: <file> (field ...): <problem>. Fix: <fix>``. That line is the cause; an
:class:`~instdiff.core.errors.InputError` carries its own fix, any other cause gets the rerun command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

# Read at most this much of the end of a job log: the traceback is at the end, and a log can be large (tqdm bars).
TAIL_BYTES = 256 * 1024
_RULE = re.compile(r"^\s*(?:Error in )?rule (?P<rule>[\w.-]+):\s*$")
_FIELD = re.compile(r"^\s+(?P<key>log|output|wildcards): (?P<value>.*?)(?: \(check log file\(s\) for error details\))?$")
# The last line of a traceback: a (dotted) exception name, a colon, the message. Also "KeyboardInterrupt" alone.
_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Failure|Interrupt|Unavailable|Deadline|Stalled|Exit|"
                        r"Refused|Warning))(?::\s?(?P<message>.*))?$")


@dataclass(frozen=True)
class FailedJob:
    """A failed job as Snakemake's log names it."""

    rule: str
    logs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    wildcards: str = ""


@dataclass(frozen=True)
class Cause:
    """What a job log says went wrong: the exception (class name without its module) and its one-line message."""

    kind: str                # "InputError", "ValueError", ... or "" for a last log line that is no exception
    message: str
    log: str

    @property
    def has_fix(self) -> bool:
        return ". Fix: " in self.message

    def text(self) -> str:
        return f"{self.kind}: {self.message}" if self.kind else self.message


def _split_paths(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(", ") if p.strip())


def failed_jobs(snakemake_log: str) -> list[FailedJob]:
    """The failed jobs of a Snakemake log's text, in order, each once (a retried job fails once per attempt)."""
    jobs: list[FailedJob] = []
    current: dict | None = None
    in_error = False

    def close():
        if current is not None:
            job = FailedJob(current["rule"], current["log"], current["output"], current["wildcards"])
            if job not in jobs:
                jobs.append(job)

    for line in snakemake_log.splitlines():
        if line.startswith("Error in rule ") or line.startswith("Error in group "):
            close()
            current, in_error = None, True
        elif line and not line[0].isspace():
            close()                                 # any unindented line ends the error block
            current, in_error = None, False
        if not in_error:
            continue
        m = _RULE.match(line)
        if m:
            close()
            current = {"rule": m["rule"], "log": (), "output": (), "wildcards": ""}
            continue
        m = _FIELD.match(line)
        if m and current is not None:
            current[m["key"]] = m["value"] if m["key"] == "wildcards" else _split_paths(m["value"])
    close()
    return jobs


def _tail_lines(path: Path) -> list[str]:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - TAIL_BYTES))
        data = fh.read()
    return data.decode("utf-8", errors="replace").splitlines()


def cause(log_path: str | Path, workdir: str | Path = ".") -> Cause | None:
    """The cause a job log states: the exception line ending its last traceback; else the last ERROR log record;
    else its last non-empty line. None when the log does not exist (the job never started) or is empty."""
    path = Path(workdir) / log_path
    if not path.is_file():
        return None
    lines = [ln.rstrip() for ln in _tail_lines(path)]
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last):")]
    if starts:
        for ln in lines[starts[-1] + 1:]:
            if not ln or ln[0].isspace():
                continue                              # frames, source lines, ^^^ markers
            m = _EXCEPTION.match(ln)
            if m:
                return Cause(m["name"].rsplit(".", 1)[-1], (m["message"] or "").strip(), str(log_path))
    for ln in reversed(lines):
        if " ERROR: " in ln or " CRITICAL: " in ln:   # instdiff's logging format: "<time> <name> ERROR: <message>"
            return Cause("", ln.split(": ", 1)[1].strip(), str(log_path))
    for ln in reversed(lines):
        if ln.strip():
            return Cause("", ln.strip(), str(log_path))
    return None


def rerun_command(job: FailedJob, configfiles: Sequence[str] = ()) -> str:
    """The command that rebuilds just this job's outputs (after the fix), with the run's config files."""
    config = "".join(f" --configfile {c}" for c in configfiles)
    return f"snakemake --cores 1{config} {' '.join(job.outputs) or job.rule}"


def failure_report(snakemake_logs: Iterable[str | Path], workdir: str | Path = ".",
                   configfiles: Sequence[str] = ()) -> list[str]:
    """The lines the ``onerror`` handler prints: per failed job its rule, its cause and the fix or the rerun
    command. Empty when the Snakemake log names no failed job (the run failed before any job ran)."""
    jobs: list[FailedJob] = []
    for log in snakemake_logs:
        path = Path(log)
        if path.is_file():
            for job in failed_jobs(path.read_text(errors="replace")):
                if job not in jobs:
                    jobs.append(job)
    if not jobs:
        return []
    out = [f"instdiff: {len(jobs)} job{'s' if len(jobs) > 1 else ''} failed; the cause{'s' if len(jobs) > 1 else ''} "
           "from the job logs:"]
    for job in jobs:
        where = f" ({job.wildcards})" if job.wildcards else ""
        out.append(f"  rule {job.rule}{where}:")
        found = [cause(log, workdir) for log in job.logs]
        # An exception in any log is the cause; else the first log's last line (the job's own log: a rule's
        # further logs, e.g. the LLM request log, end with records, not with a reason).
        causes = [c for c in found if c is not None and c.kind] or [c for c in found[:1] if c is not None]
        if not job.logs:
            out.append("    no log file: see Snakemake's message above")
        elif not causes:
            out.append(f"    {', '.join(job.logs)} is missing or empty: the job did not start (on SLURM: see its "
                       "slurm log under .snakemake/slurm_logs/)")
        for c in causes:
            out.append(f"    cause: {c.text()}")
            out.append(f"    log: {c.log}")
        fixed = any(c.has_fix for c in causes)
        out.append(f"    {'after the fix, rerun' if fixed else 'rerun'}: {rerun_command(job, configfiles)}")
    return out
