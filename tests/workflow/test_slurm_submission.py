"""The paper run's generation shards all reach SLURM (issue 20, item 1).

snakemake-executor-plugin-slurm 2.8, in array mode, holds back a rule's jobs while fewer of them were handed over than
are ready (``run_jobs``: "Array job collection incomplete ... waiting for more jobs"), and Snakemake counts the held
jobs as running: with more ready shards than the profile's ``jobs``, they never go out and the run stalls
(snakemake-executor-plugin-slurm issue #473). An array also gives every task the resources of its first job, and the
``llm`` and COCO shards of rule generate differ in runtime.

This test builds the paper DAG through the real profile (slurm/config.yaml, with a site's values in place of its
placeholders), takes the moment every COCO shard is ready (the model conversion, the last input they wait for, has
just finished), hands the plugin as many of them as ``jobs`` allows, as Snakemake's scheduler does, and drives the
plugin's own ``run_jobs`` with ``sbatch`` stubbed on PATH. Every handed-over shard must reach sbatch, each in a
submission whose jobs share their resources.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.workflow.conftest import copy_repo

pytestmark = pytest.mark.workflow

PROFILE = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())

# A site's values for the profile's placeholders (an overlay, as tests/slurm_ci does).
SITE = {
    "default-resources": {"slurm_partition": "cpu", "slurm_account": "lab", "runtime": 60, "mem_mb": 8000},
    "set-resources": {"generate": {"slurm_partition": "gpu", "gpu_model": "a100"}},
}

# sbatch logs each call to a file of its own and answers with a job id (--parsable); scontrol gives the array limit,
# sacctmgr the user's accounts.
SBATCH = """#!/bin/sh
call=$(mktemp "$SBATCH_CALLS/call.XXXXXX")
printf '%s' "$*" > "$call"
echo "${call##*.}" | cksum | cut -d' ' -f1
"""
SCONTROL = """#!/bin/sh
echo "MaxArraySize = 1001"
"""
SACCTMGR = """#!/bin/sh
echo lab
"""


def _stub(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def submitted(tmp_path, monkeypatch):
    """Drive the plugin's run_jobs on the paper DAG's ready generate shards; return (handed jobs, sbatch calls)."""
    from snakemake.cli import args_to_api, parse_args
    from snakemake.scheduling.job_scheduler import JobScheduler

    root = copy_repo(tmp_path / "repo")
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text(yaml.safe_dump(SITE))
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in (("sbatch", SBATCH), ("scontrol", SCONTROL), ("sacctmgr", SACCTMGR)):
        _stub(stubs, name, text)
    calls = tmp_path / "sbatch"
    calls.mkdir()
    monkeypatch.setenv("SBATCH_CALLS", str(calls))
    monkeypatch.setenv("PATH", f"{stubs}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(root)
    handed = []

    def schedule(self):
        """One scheduling round at the moment every shard is ready, in place of the run's loop: the llm shards
        first, so that both kinds of shard are among the `jobs` handed over."""
        dag = self.workflow.dag
        shards = sorted((j for j in dag.needrun_jobs() if j.rule.name == "generate"),
                        key=lambda j: (j.wildcards.experiment != "llm", j.wildcards.experiment, int(j.wildcards.shard)))
        dag._ready_jobs.clear()
        dag._ready_jobs.update(shards)
        handed.extend(shards[: self.workflow.resource_settings.nodes])
        self._executor.run_jobs(list(handed))
        self._executor._job_submission_executor.shutdown(wait=True)
        return True

    monkeypatch.setattr(JobScheduler, "schedule", schedule)
    # --sdm env-modules: no conda here (no rule uses env modules); --no-hooks: the pins' check needs no downloads.
    parser, args = parse_args(["--profile", "slurm", "--profile", str(site), "all", "--sdm", "env-modules",
                               "--no-hooks"])
    args_to_api(args, parser)
    return handed, [p.read_text() for p in sorted(calls.iterdir())]


def _name(job) -> str:
    """The sbatch comment of a job (the plugin's rule_<rule>_wildcards_<values>)."""
    w = job.wildcards
    return f"rule_generate_wildcards_{w.experiment}_{w.shard}_{w.nshards}"


def test_every_generation_shard_handed_over_reaches_sbatch_with_its_own_runtime(submitted):
    handed, calls = submitted
    assert len(handed) == PROFILE["jobs"], "the paper run has more generation shards than the profile's `jobs`"
    assert {j.wildcards.experiment for j in handed} > {"llm"}, "both kinds of shard are handed over"
    comments = [re.search(r"--comment (\S+)", c).group(1) for c in calls]
    missing = sorted({_name(j) for j in handed} - set(comments))
    assert not missing, f"{len(missing)} of {len(handed)} shards never reached sbatch: {missing[:5]}"
    # One submission per shard, each with the runtime of its own shard (an array takes its first job's).
    by_comment = dict(zip(comments, calls))
    for job in handed:
        call = by_comment[_name(job)]
        assert "--array" not in call
        assert re.search(r" -t (\d+) ", call).group(1) == str(job.resources.runtime), call[:300]
