"""Every job of a config's whole DAG, with what Snakemake's rerun triggers compare (run in a subprocess).

    python -m tests.workflow.dag_jobs CONFIGFILE  (from the workflow's root) -> JSON on stdout:
    [{"rule", "output": [...], "input": [...], "params": {name: repr}, "deps": [first output of each dependency]}]

Snakemake reruns a finished job when its params (`params` trigger) or its input files (`input`) differ from the
recorded ones, or when a job it depends on reruns (`mtime`; not through an ``ancient()`` input). :func:`rerun` applies those rules to two configs' DAGs,
so a test can say which jobs an edit of the config would rerun without running the workflow once.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path


def dag_jobs(configfile: str) -> list[dict]:
    from snakemake.api import SnakemakeApi
    from snakemake.io import is_flagged
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=1),
                          config_settings=ConfigSettings(configfiles=[Path(configfile)]),
                          snakefile=Path("Snakefile"), workdir=Path.cwd())
        workflow = wf.dag(DAGSettings(forceall=True)).workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        dag = workflow.dag
        jobs = []
        for job in dag.jobs:
            params = {name: repr(value) for name, value in job.params.items()}
            # An ancient() input's producer reruns without rerunning this job (mtime is not compared).
            ancient = {str(f) for f in job.input if is_flagged(f, "ancient")}
            jobs.append({
                "rule": job.rule.name,
                "output": sorted(map(str, job.output)) or [f"<{job.rule.name}>"],
                "input": sorted(map(str, job.input)),
                "params": params,
                "deps": sorted((sorted(map(str, d.output)) or [f"<{d.rule.name}>"])[0]
                               for d, files in dag.dependencies[job].items()
                               if not {str(f) for f in files} <= ancient),
            })
        return jobs


def rerun(before: list[dict], after: list[dict]) -> list[dict]:
    """The jobs of ``after`` that would run once ``before`` had run to the end: new jobs, jobs whose params or
    input files changed, and every job downstream of one of those."""
    old = {job["output"][0]: job for job in before}
    by_key = {job["output"][0]: job for job in after}
    memo: dict[str, bool] = {}

    def runs(key: str) -> bool:
        if key not in memo:
            job, was = by_key[key], old.get(key)
            memo[key] = (was is None or was["params"] != job["params"] or was["input"] != job["input"]
                         or any(runs(dep) for dep in job["deps"]))
        return memo[key]

    return [job for key, job in by_key.items() if runs(key)]


if __name__ == "__main__":
    with contextlib.redirect_stdout(io.StringIO()):  # Snakemake's own messages
        found = dag_jobs(sys.argv[1])
    print(json.dumps(found))
