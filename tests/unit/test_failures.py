"""instdiff.core.failures: the failed jobs of a Snakemake log and the cause in each job's log, without Snakemake
(the workflow test tests/workflow/test_failure_messages.py runs the Snakefile's onerror for real)."""

from __future__ import annotations

import subprocess
import sys

from instdiff.core.failures import Cause, FailedJob, cause, failed_jobs, failure_report

# Snakemake 9's text for a failed job, a group job and a retried job (snakemake/logging.py _format_job_error,
# _format_group_error), between other lines of the run's log.
SNAKEMAKE_LOG = """\
[Mon Dec  7 00:08:31 2026]
localrule annotations_512:
    output: results/smoke/data/annotations_512.json
    log: results/smoke/logs/annotations_512/annotations_512.log
    jobid: 0
RuleException:
CalledProcessError in file "rules/data.smk", line 125:
Command 'set -euo pipefail;  python .snakemake/scripts/tmp.data_annotations_512.py' returned non-zero exit status 1.
[Mon Dec  7 00:08:33 2026]
Error in rule annotations_512:
    message: None
    jobid: 0
    input: results/smoke/data/source/annotations/instances_val2017.json
    output: results/smoke/data/annotations_512.json
    log: results/smoke/logs/annotations_512/annotations_512.log (check log file(s) for error details)
Error in rule pim:
    message: None
    jobid: 7
    output: results/smoke/metrics/point/pim_point_paper.json, results/smoke/metrics/point/pim_point_corrected.json
    log: results/smoke/logs/pim/point_point.log (check log file(s) for error details)
    wildcards: experiment=point, mode=point
Error in rule pim:
    message: None
    jobid: 7
    output: results/smoke/metrics/point/pim_point_paper.json, results/smoke/metrics/point/pim_point_corrected.json
    log: results/smoke/logs/pim/point_point.log (check log file(s) for error details)
    wildcards: experiment=point, mode=point
Error in group detect_group:
    message: None
    jobs:
        rule detect:
            jobid: 3
            output: results/smoke/detections/box/yolov8m.json
            log: results/smoke/logs/detect/box_yolov8m.log (check log file(s) for error details)
Shutting down, this might take some time.
Exiting because a job execution failed. Look above for error messages
"""


def test_failed_jobs_of_a_snakemake_log():
    jobs = failed_jobs(SNAKEMAKE_LOG)
    assert jobs == [
        FailedJob("annotations_512", ("results/smoke/logs/annotations_512/annotations_512.log",),
                  ("results/smoke/data/annotations_512.json",)),
        FailedJob("pim", ("results/smoke/logs/pim/point_point.log",),
                  ("results/smoke/metrics/point/pim_point_paper.json",
                   "results/smoke/metrics/point/pim_point_corrected.json"), "experiment=point, mode=point"),
        FailedJob("detect", ("results/smoke/logs/detect/box_yolov8m.log",),
                  ("results/smoke/detections/box/yolov8m.json",)),
    ]
    assert failed_jobs("Building DAG of jobs...\nlocalrule all:\n    jobid: 0\n") == []


def _job_log(tmp_path, name: str, code: str):
    """A job log as a rule's script leaves it: the real traceback of ``code``, after some log lines."""
    log = tmp_path / name
    with log.open("w") as fh:
        fh.write("2026-12-07 00:08:32 instdiff.data.coco INFO: reading the instances\n")
        fh.flush()
        subprocess.run([sys.executable, "-c", code], stderr=fh, cwd=tmp_path, check=False)
    return log


def test_cause_is_the_instdiff_error_line_of_the_traceback(tmp_path):
    (tmp_path / "bad.json").write_text('{"images": [\n')
    log = _job_log(tmp_path, "job.log", "from instdiff.core.io import read_json; read_json('bad.json')")
    c = cause("job.log", tmp_path)
    assert c == Cause("InputError", "bad.json: not valid JSON (Expecting value at line 2). Fix: regenerate or repair "
                      "the file", "job.log")
    assert c.has_fix
    assert log.read_text().count("Traceback") == 1


def test_cause_of_a_chained_exception_is_the_last_one(tmp_path):
    _job_log(tmp_path, "job.log", "try:\n  {}['x']\nexcept KeyError:\n  raise RuntimeError('the model folder is empty')")
    c = cause("job.log", tmp_path)
    assert (c.kind, c.message, c.has_fix) == ("RuntimeError", "the model folder is empty", False)


def test_cause_without_traceback(tmp_path):
    (tmp_path / "a.log").write_text("x INFO: start\n2026 instdiff.llm ERROR: the server answered 500 three times\n"
                                    "done\n")
    assert cause("a.log", tmp_path).text() == "the server answered 500 three times"
    (tmp_path / "b.log").write_text("step 1\nKilled\n\n")
    assert cause("b.log", tmp_path).text() == "Killed"
    assert cause("missing.log", tmp_path) is None


def test_failure_report_names_cause_fix_and_rerun(tmp_path):
    (tmp_path / "bad.json").write_text("[1,\n")
    logs = tmp_path / "results" / "smoke" / "logs"
    (logs / "annotations_512").mkdir(parents=True)
    (logs / "pim").mkdir()
    code = "from instdiff.core.io import read_json; read_json('bad.json')"
    with (logs / "annotations_512" / "annotations_512.log").open("w") as fh:
        subprocess.run([sys.executable, "-c", code], stderr=fh, cwd=tmp_path, check=False)
    (logs / "pim" / "point_point.log").write_text("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                                  "ZeroDivisionError: division by zero\n")
    main_log = tmp_path / "run.snakemake.log"
    main_log.write_text(SNAKEMAKE_LOG)
    lines = failure_report([main_log, tmp_path / "absent.log"], tmp_path, ["config/smoke.yaml"])
    text = "\n".join(lines)
    assert lines[0] == "instdiff: 3 jobs failed; the causes from the job logs:"
    assert ("    cause: InputError: bad.json: not valid JSON (Expecting value at line 2). Fix: regenerate or repair "
            "the file") in lines
    assert ("    after the fix, rerun: snakemake --cores 1 --configfile config/smoke.yaml "
            "results/smoke/data/annotations_512.json") in lines
    assert "  rule pim (experiment=point, mode=point):" in lines
    assert "    cause: ZeroDivisionError: division by zero" in lines
    assert ("    rerun: snakemake --cores 1 --configfile config/smoke.yaml results/smoke/metrics/point/"
            "pim_point_paper.json results/smoke/metrics/point/pim_point_corrected.json") in lines
    assert "results/smoke/logs/detect/box_yolov8m.log is missing or empty: the job did not start" in text
    assert failure_report([tmp_path / "absent.log"], tmp_path) == []


def test_a_second_log_of_records_is_not_the_cause(tmp_path):
    """A rule with two logs (the LLM layouts: its job log and its request log): the exception in the job log is the
    cause, the request log's last record is not; without any exception, the job log's last line."""
    (tmp_path / "job.log").write_text("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                      "instdiff.llm.client.LlmFailure: layout 7: the reply is not valid JSON\n")
    (tmp_path / "requests.jsonl").write_text('{"layout": 7, "status": 200}\n')
    (tmp_path / "main.log").write_text("Error in rule llm_layouts:\n    jobid: 1\n    output: llm/layouts.jsonl\n"
                                       "    log: job.log, requests.jsonl (check log file(s) for error details)\n")
    lines = failure_report([tmp_path / "main.log"], tmp_path)
    assert [ln for ln in lines if "cause:" in ln] == ["    cause: LlmFailure: layout 7: the reply is not valid JSON"]
    (tmp_path / "job.log").write_text("asking 10 layouts\nout of memory\n")
    lines = failure_report([tmp_path / "main.log"], tmp_path)
    assert [ln for ln in lines if "cause:" in ln] == ["    cause: out of memory"]
