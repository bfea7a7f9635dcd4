"""What failed and why, in the terminal: the ``onerror`` handler of the Snakefile reads the failed jobs' own logs and
prints each one's one-line cause and its fix, where Snakemake alone prints ``message: None`` and "check log file(s)".

Failed jobs are found in Snakemake's log ("Error in rule X:" blocks with their ``log:`` and ``output:`` lines); a
quiet run (``-q``) writes no such block, so the job logs under ``logs_dir`` written since the run started and ending
in a Python exception are read instead. The cause is the log's last exception line; an
:class:`instdiff.core.errors.InputError` carries its own fix ("... Fix: ..."), any other cause gets the rerun command.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, TextIO

_EXC = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt)\w*): (.+)$")
_BLOCK = re.compile(r"^Error in rule (\S+?):\s*$")


@dataclass
class Failure:
    rule: str
    log: str | None
    output: str | None
    cause: str
    fix: str


def cause_of(log_path: str | Path) -> tuple[str, str | None]:
    """(one-line cause, the fix it names or None) from a job's log: its last exception line, else its last line."""
    try:
        lines = [line.rstrip() for line in Path(log_path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return f"its log {log_path} could not be read", None
    if not lines:
        return f"its log {log_path} is empty (killed before writing? check the scheduler's log)", None
    for line in reversed(lines):
        m = _EXC.match(line.strip())
        if m:
            kind, text = m.groups()
            text, _, fix = text.partition(". Fix: ")
            return f"{kind}: {text}", (fix or None)
    return lines[-1].strip(), None


def failed_in_log(snakemake_log: str) -> list[tuple[str, str | None, str | None]]:
    """(rule, job log, first output) of every "Error in rule" block of a Snakemake log."""
    out, current = [], None
    for line in snakemake_log.splitlines():
        m = _BLOCK.match(line)
        if m:
            current = [m.group(1), None, None]
            out.append(current)
        elif current is not None and line.startswith("    "):
            key, _, value = line.strip().partition(": ")
            if key == "log" and current[1] is None:
                current[1] = value.split(" (check log")[0].split(", ")[0]
            elif key == "output" and current[2] is None:
                current[2] = value.split(", ")[0]
        elif current is not None and not line.startswith(" "):
            current = None
    return [tuple(x) for x in out]


def recent_failed_logs(logs_dir: str | Path, since: float) -> list[Path]:
    """Job logs under ``logs_dir`` written at or after ``since`` whose last exception line ends them (a failure)."""
    found = []
    for p in sorted(Path(logs_dir).rglob("*.log")) if Path(logs_dir).is_dir() else []:
        try:
            if p.stat().st_mtime < since:
                continue
            tail = [line for line in p.read_text(errors="replace").splitlines() if line.strip()][-1:]
        except (OSError, IndexError):
            continue
        if tail and _EXC.match(tail[0].strip()):
            found.append(p)
    return found


def failures(snakemake_logs: Iterable[str | Path], logs_dir: str | Path | None = None) -> list[Failure]:
    out = []
    for path in snakemake_logs:
        path = Path(path)
        text = path.read_text(errors="replace") if path.is_file() else ""
        blocks = failed_in_log(text)
        if not blocks and logs_dir is not None and path.is_file():
            blocks = [(p.stem, str(p), None) for p in recent_failed_logs(logs_dir, path.stat().st_ctime - 1)]
        for rule, log, output in blocks:
            cause, fix = cause_of(log) if log else ("the rule has no log file", None)
            rerun = f"snakemake --cores 1 {output}" if output else "rerun the same snakemake command"
            out.append(Failure(rule, log, output, cause, fix or f"after fixing the cause: {rerun} (finished jobs are kept)"))
    return out


def explain_failures(snakemake_logs, logs_dir: str | Path | None = None, stream: TextIO | None = None) -> list[Failure]:
    """Print one block per failed job: rule, cause, fix, log (the ``onerror`` handler)."""
    stream = stream or sys.stderr
    if isinstance(snakemake_logs, (str, Path)):
        snakemake_logs = [snakemake_logs]
    found = failures(snakemake_logs, logs_dir)
    if found:
        stream.write("\ninstdiff: what failed and why\n")
    for f in found:
        stream.write(f"  rule {f.rule}: {f.cause}\n    fix: {f.fix}\n" + (f"    log: {f.log}\n" if f.log else ""))
    return found
