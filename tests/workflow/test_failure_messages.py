"""A failed job's cause reaches Snakemake's own output (the Snakefile's ``onerror``, instdiff/core/failures.py), not
only "check log file(s)": one real rule (annotations_512) run alone on a corrupt input in a copy of the workflow."""

from __future__ import annotations

import subprocess

import pytest

from tests.workflow.conftest import SNAKEMAKE, copy_repo, snakemake_env

pytestmark = pytest.mark.workflow


def test_corrupt_json_cause_and_fix_in_snakemake_stderr(tmp_path):
    root = copy_repo(tmp_path / "repo")
    source = root / "results" / "smoke" / "data" / "source"
    (source / "annotations").mkdir(parents=True)
    (source / "val2017").mkdir()
    # The synthetic set's outputs, present and without Snakemake metadata: only annotations_512 runs, on a
    # truncated instances file.
    (source / "annotations" / "instances_val2017.json").write_text('{"images": [\n')
    (source / "annotations" / "captions_val2017.json").write_text("{}")
    proc = subprocess.run([*SNAKEMAKE, "results/smoke/data/annotations_512.json", "--cores", "1",
                           "--configfile", "config/smoke.yaml"],
                          cwd=root, env=snakemake_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    err = proc.stderr
    cause = ("cause: InputError: results/smoke/data/source/annotations/instances_val2017.json: not valid JSON "
             "(Expecting value at line 2). Fix: regenerate or repair the file")
    assert cause in err, err[-3000:]
    assert ("after the fix, rerun: snakemake --cores 1 --configfile config/smoke.yaml "
            "results/smoke/data/annotations_512.json") in err
    # After Snakemake's own error block, which names the same log.
    assert err.index("Error in rule annotations_512:") < err.index(cause)
