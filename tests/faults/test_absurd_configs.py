"""Item 5 of issue 24: absurd configs and arguments are refused (or capped with a warning), each naming the key.

JSON Schema passes NaN and infinities through every bound, so the workflow walks the validated config once more
(instdiff/core/config_values.py, run by rules/common.smk). A shard count above the image count is capped: each
shard is a job, and 10^12 of them made Snakemake eat 15.7 GB until the kernel killed it."""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from instdiff.cli import main
from instdiff.core.errors import InputError

from tests.conftest import REPO
from tests.faults.checks import assert_nothing_half_written
from tests.faults.test_config_typos import _load, _set, validate_like_the_workflow

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
MEMORY_CAP = 3 * 1024**3  # address space of the dry run: a DAG of 10^12 jobs cannot fit, the real one does


def _cap_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _dry_run(tmp_path, cfg: dict, run: str) -> subprocess.CompletedProcess:
    cfg["run"] = run
    path = tmp_path / f"{run}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(path), "--directory", str(REPO),
                           "--snakefile", str(REPO / "Snakefile")],
                          capture_output=True, text=True, env=env, timeout=300, preexec_fn=_cap_memory)


NON_FINITE = [
    ("experiments.box.guidance_scale", math.nan),
    ("experiments.point.mis", math.nan),
    ("generation.seconds_per_image", math.inf),
    ("detection.conf", -math.inf),
    ("detection.iou", math.nan),
]


@pytest.mark.parametrize("dotted,value", NON_FINITE, ids=[f"{k}={v}" for k, v in NON_FINITE])
def test_the_schema_passes_what_the_finite_check_refuses(dotted, value):
    from instdiff.core.config_values import check_finite

    cfg = _set(_load("smoke.yaml"), dotted, value)
    validate_like_the_workflow(cfg)  # the schema alone lets it through: that is why the second pass exists
    with pytest.raises(InputError, match=rf"{dotted} is not a finite number") as err:
        check_finite(cfg, "smoke.yaml")
    assert err.value.field == dotted and "smoke.yaml" in str(err.value)


def test_a_nan_in_a_list_is_named_by_its_position():
    from instdiff.core.config_values import nonfinite_keys

    assert list(nonfinite_keys({"a": {"b": [1.0, math.nan]}, "c": math.inf})) == ["a.b[1]", "c"]


def test_the_workflow_refuses_a_nan_guidance_scale_before_running_anything(tmp_path):
    """The real Snakefile: `guidance_scale: .nan` (what YAML reads as NaN) stops the dry run, naming the key."""
    raw = (REPO / "config" / "smoke.yaml").read_text().replace("guidance_scale: 7.5", "guidance_scale: .nan", 1)
    cfg = yaml.safe_load(raw)
    assert math.isnan(cfg["experiments"]["box"]["guidance_scale"])
    proc = _dry_run(tmp_path, cfg, "i24nan")
    assert proc.returncode != 0
    assert "experiments.box.guidance_scale is not a finite number" in proc.stdout + proc.stderr
    assert not (REPO / "results" / "i24nan").exists()
    assert_nothing_half_written(tmp_path)


def test_a_shard_count_above_the_image_count_is_capped_with_a_warning(tmp_path):
    """`generation.shards: 10^12` dry-runs in bounded memory (RLIMIT_AS of 3 GiB) with one shard per image at most,
    and the warning names the key; an experiment's own `shards` is named as its own key."""
    cfg = _set(_set(_load("smoke.yaml"), "generation.shards", 10**12), "experiments.box.shards", 50)
    proc = _dry_run(tmp_path, cfg, "i24shards")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "generation.shards: 1000000000000 shards for" in out
    assert "experiments.box.shards: 50 shards for 12 images; using 12" in out
    assert not (REPO / "results" / "i24shards").exists()


def test_capped_shards_keeps_a_sane_count():
    from instdiff.core.config_values import capped_shards

    warned = []
    assert capped_shards(4, 100, "generation.shards", warned.append) == 4
    assert capped_shards(10**12, 100, "generation.shards", warned.append) == 100
    assert warned == ["generation.shards: 1000000000000 shards for 100 images; using 100 (one image per shard)"]


@pytest.mark.parametrize("flag,value", [("--guidance-scale", "nan"), ("--guidance-scale", "inf"), ("--mis", "nan"),
                                        ("--alpha", "-inf"), ("--cascade-strength", "nan")])
def test_generate_refuses_non_finite_numbers_before_loading_a_model(tmp_path, capsys, flag, value):
    demo = {"caption": "a dog", "width": 64, "height": 64, "annos": [{"caption": "a dog", "bbox": [1, 2, 30, 40]}]}
    (tmp_path / "demo.json").write_text(json.dumps(demo))
    rc = main(["generate", "--layout", str(tmp_path / "demo.json"), "--out", str(tmp_path / "out"),
               "--model", str(tmp_path / "no-model"), f"{flag}={value}"])
    err = capsys.readouterr().err
    assert rc == 2 and f"(field {flag!r})" in err and "finite number" in err and "Fix:" in err, err
    assert not (tmp_path / "out").exists()
