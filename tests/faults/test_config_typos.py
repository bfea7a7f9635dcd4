"""Item 13 of issue 12: a typo in the config is refused, never silently replaced by a default."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from instdiff.core.errors import InputError

from tests.conftest import REPO
from tests.faults.checks import assert_nothing_half_written

SCHEMA_DIR = REPO / "config" / "schema"


def validate_like_the_workflow(config: dict) -> None:
    """What rules/common.smk does: the top-level schema, then each section against its own schema file."""
    config = copy.deepcopy(config)
    validate(config, str(SCHEMA_DIR / "config.schema.yaml"))
    for schema in sorted(SCHEMA_DIR.glob("*.schema.yaml")):
        section = schema.name.removesuffix(".schema.yaml")
        if section != "config":
            config.setdefault(section, {})
            validate(config[section], str(schema))


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml"])
def test_shipped_configs_validate(name):
    validate_like_the_workflow(_load(name))


def test_every_section_schema_is_a_known_top_level_key():
    top = yaml.safe_load((SCHEMA_DIR / "config.schema.yaml").read_text())
    sections = {p.name.removesuffix(".schema.yaml") for p in SCHEMA_DIR.glob("*.schema.yaml")} - {"config"}
    assert sections <= set(top["properties"]), "list each section schema under the top-level properties"


def _set(cfg: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    node[last] = value
    return cfg


TYPOS = [
    ("generation.shard", 2),
    ("experiments.point.locaton", "point"),
    ("experiments.box.step", 50),
    ("sede", 1),
    ("llm.n_layout", 5),
    ("llm.api.api_key", "sk-typo-secret-0123456789"),
    ("llm.grounding.scorers.owlv2.treshold", 0.2),
    ("llm.grounding.scorers.owlv2.revison", "abc"),
    ("data.quirks.single_annotation", "original"),
    ("models.clip_attribute.pretrianed", "openai"),
    ("detection.max_dets", 100),
    ("fid.featur", 64),
    ("report.bootstrap.resample", 200),
    ("experiments.llm.refiner.strenght", 0.4),
]


@pytest.mark.parametrize("dotted,value", TYPOS, ids=[t[0] for t in TYPOS])
def test_unknown_keys_are_refused(dotted, value):
    cfg = _load("config.yaml")
    cfg.setdefault("fid", {})
    cfg.setdefault("report", {}).setdefault("bootstrap", {})
    with pytest.raises(WorkflowError, match="Additional properties are not allowed"):
        validate_like_the_workflow(_set(cfg, dotted, value))


@pytest.mark.parametrize("bad", ["..", ".", ".hidden", "a/b", "x y", ""])
def test_run_names_cannot_leave_results(bad):
    with pytest.raises(WorkflowError):
        validate_like_the_workflow(_set(_load("smoke.yaml"), "run", bad))


@pytest.mark.parametrize("bad", ["../x", "a.b", "a/b", "box ", "é"])
def test_experiment_names_are_restricted(bad):
    cfg = _load("smoke.yaml")
    cfg["experiments"][bad] = cfg["experiments"]["box"]
    with pytest.raises(WorkflowError):
        validate_like_the_workflow(cfg)


def test_the_workflow_refuses_a_typo_before_running_anything(tmp_path):
    """The real Snakefile: a dry run on a config with `experiments.point.locaton` fails and names the key."""
    cfg = _set(_load("smoke.yaml"), "experiments.point.locaton", "point")
    cfg["run"] = "typo"
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "--cores", "1", "--configfile",
                           str(path), "--directory", str(REPO), "--snakefile", str(REPO / "Snakefile")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "locaton" in proc.stdout + proc.stderr
    assert not (REPO / "results" / "typo").exists()
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("key,value", [("revision", None), ("revision", "main"), ("tokenizer_revision", None),
                                       ("revision", "F3440BB2344CF1FE226857042C5A1EA323A9A0FB")])
def test_cogvlm_runs_remote_code_only_at_a_pinned_commit(key, value):
    from instdiff.llm.scorers.cogvlm import check_pinned

    cfg = _load("config.yaml")
    cogvlm = cfg["llm"]["grounding"]["scorers"]["cogvlm"]
    check_pinned(cogvlm)
    if value is None:
        del cogvlm[key]
    else:
        cogvlm[key] = value
    with pytest.raises(WorkflowError):
        validate_like_the_workflow(cfg)
    with pytest.raises(InputError, match=f"cogvlm.{key}"):
        check_pinned(cogvlm)


@pytest.mark.parametrize("dotted", ["seed", "generation.shards", "experiments.box.steps", "experiments.box.mis"])
def test_a_bool_is_not_a_number_in_the_config(dotted):
    with pytest.raises(WorkflowError, match="is not of type"):
        validate_like_the_workflow(_set(_load("smoke.yaml"), dotted, True))
