"""Item 6 of issue 24: what a killed atomic write left (``.{stem}.<8 random>.tmp{suffix}``, ``.{name}.tmp<8>``) is
removed when the job that owns the file runs again, for every rule: each script starts with ``from_snakemake``,
which cleans its job's declared outputs. A neighbour's temporary (another job may be writing it) is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from instdiff.core.logging_setup import from_snakemake

from tests.conftest import REPO


def _touch(path: Path, directory: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        path.mkdir()
        (path / "part.png").write_bytes(b"half")
    else:
        path.write_text("{")
    return path


def test_a_job_removes_the_leftovers_of_its_own_outputs_only(tmp_path):
    run = tmp_path / "results" / "smoke"
    outputs = [run / "images/box/shards/0-of-2.json", run / "metrics/box/coco_bbox.json", run / "figures"]
    stale = [
        _touch(run / "images/box/shards/.0-of-2.k2j3h4x9.tmp.json"),
        _touch(run / "metrics/box/.coco_bbox.a_b_c_d_.tmp.json"),
        _touch(run / ".figures.tmpq1w2e3r4", directory=True),
    ]
    kept = [
        _touch(run / "images/box/shards/.1-of-2.k2j3h4x9.tmp.json"),  # the other shard's job may be writing it
        _touch(run / "metrics/box/.coco_bbox.per_image.k2j3h4x9.tmp.json"),  # another file's temp
        _touch(run / "metrics/box/.coco_segm.k2j3h4x9.tmp.json"),
        _touch(run / "images/box/shards/0-of-2.json.bak"),
    ]
    from_snakemake(SimpleNamespace(output=[str(p) for p in outputs], log=[]))
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []


def test_a_real_rule_run_removes_its_leftovers(tmp_path):
    """`raters_synthetic` (no inputs, two outputs) through the real Snakefile: its own stale temporary is gone after
    the run, a neighbour's is kept."""
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["run"] = "i24temps"
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    folder = tmp_path / "results/i24temps/raters/synthetic"
    stale = _touch(folder / ".ratings.k2j3h4x9.tmp.csv")
    neighbour = _touch(folder / ".ratings.old.k2j3h4x9.tmp.csv")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "--configfile",
                           str(tmp_path / "cfg.yaml"), "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "results/i24temps/raters/synthetic/ratings.csv"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (folder / "ratings.csv").is_file()
    assert not stale.exists() and neighbour.exists()
    log = (tmp_path / "results/i24temps/logs/raters/synthetic.log").read_text()
    assert "removed 1 temporary file(s) a killed earlier attempt left: .ratings.k2j3h4x9.tmp.csv" in log
