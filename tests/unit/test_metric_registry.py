"""The metric registry against what its users hold: the rules' outputs, the config schema, the file contract, the envs
and the report's units."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from instdiff.core.envs import ENV_FILES, env_file
from instdiff.core.errors import InputError
from instdiff.metrics import registry
from instdiff.metrics.record import SCHEMAS
from instdiff.metrics.registry import METRICS, detector_of, metric_files, metric_of_file, metric_spec, scored_attribute
from instdiff.report.specs import TABLES

ROOT = Path(__file__).resolve().parents[2]
# An output a rule declares under metrics/{experiment}/, named or not: run_path("metrics/{experiment}/pim_{mode}_paper.json"),
# gt=run_path("metrics/{experiment}/attribute_gt.json").
RULE_OUTPUT = re.compile(r'^\s+(?:\w+=)?run_path\("metrics/\{experiment\}/([^"]+)\.json"\)', re.M)


def _rule_metric_outputs() -> list[str]:
    return [m for f in sorted((ROOT / "rules").glob("*.smk")) for m in RULE_OUTPUT.findall(f.read_text())]


def _pattern(output: str) -> re.Pattern:
    """A rule's output stem as a regex: each {wildcard} one name part."""
    return re.compile("".join("[a-z0-9]+" if p.startswith("{") else re.escape(p)
                              for p in re.split(r"(\{\w+\})", output)))


def test_every_metric_file_a_rule_writes_has_a_spec_and_every_spec_file_a_rule():
    outputs = _rule_metric_outputs()
    assert outputs, "no metric outputs found in rules/: the pattern no longer matches the rule files"
    stems = {stem for spec in METRICS.values() for stem in spec.files}
    for output in outputs:
        assert any(_pattern(output).fullmatch(s) for s in stems), f"rule output {output}.json has no spec"
    for stem in stems:
        assert any(_pattern(o).fullmatch(stem) for o in outputs), f"{stem}.json of the registry: no rule writes it"


def test_registry_ids_are_the_configs_metric_ids():
    schema = yaml.safe_load((ROOT / "config" / "schema" / "config.schema.yaml").read_text())
    exp = schema["properties"]["experiments"]["additionalProperties"]["properties"]
    assert exp["metrics"]["items"]["enum"] == list(METRICS)


def test_specs_agree_with_the_file_contract_and_the_envs():
    for spec in METRICS.values():
        schema = SCHEMAS["pim_point" if spec.id.startswith("pim_point") else
                         "pim_scribble" if spec.id.startswith("pim_scribble") else spec.id]
        assert set(spec.keys) <= set(schema.values), f"{spec.id}: headline keys outside the file's values"
        assert spec.env in ENV_FILES, f"{spec.id}: env {spec.env!r} is not a stage env of instdiff.core.envs"
        assert (ROOT / env_file(spec.env)).is_file(), f"{spec.id}: {env_file(spec.env)} is missing"
        assert spec.detector in (None, "detector_box", "detector_mask")


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(InputError, match=r"unknown metric 'coco_box'; available: coco_bbox, coco_segm, .*fid"):
        metric_spec("coco_box")
    with pytest.raises(InputError, match=r"unknown metric file 'pim_point'; available: .*pim_point_paper"):
        metric_of_file("pim_point")
    with pytest.raises(InputError, match="unknown metric 'x'"):
        metric_files(["fid", "x"])


def test_files_and_stems_map_both_ways():
    assert metric_files(["pim_point", "fid"]) == ["pim_point_paper", "pim_point_corrected", "fid"]
    assert metric_of_file("attribute_detected").id == "attribute"
    assert metric_of_file("coco_bbox_segmodel").id == "coco_bbox_segmodel"


def test_detectors_per_metric_and_per_family():
    assert detector_of("coco_bbox") == "detector_box"
    assert detector_of("coco_bbox_segmodel") == "detector_mask"
    assert detector_of("pim") == "detector_mask"          # pim_point and pim_scribble: one rule, one detector
    assert detector_of("fid") is None
    with pytest.raises(InputError, match="names 2 detectors"):
        detector_of("coco")                                # coco_bbox (box) and coco_segm (mask) disagree


def test_report_units_come_from_the_spec(monkeypatch):
    """Fractions are printed as percent, other values as stored; the FID column ranks lower as better."""
    assert metric_of_file("coco_bbox").scale("ap") == 100.0
    assert metric_of_file("attribute_gt").scale("accuracy") == 100.0
    assert metric_of_file("attribute_gt").scale("clip_local") == 1.0
    assert metric_of_file("fid").scale("fid") == 1.0
    # the ranges intervals across seeds stay in
    assert metric_of_file("coco_bbox").bounds("ap", 100.0) == (0.0, 100.0)
    assert metric_of_file("pim_point_corrected").bounds("pim") == (0.0, 1.0)
    assert metric_of_file("fid").bounds("fid") == (0.0, None)
    assert metric_of_file("attribute_gt").bounds("clip_local") == (None, None)
    fid_column = next(c for c in TABLES["fid"].columns if c.key == "fid")
    assert fid_column.higher_is_better is False
    monkeypatch.setitem(registry._BY_FILE, "fid", registry.MetricSpec(
        "fid", "x", ("fid",), None, "eval", "fraction", ("fid",), True))
    assert fid_column.higher_is_better is True and metric_of_file("fid").scale("fid") == 100.0


def test_scored_attribute_follows_the_phrases_and_a_jpeg_copys_source():
    exps = {"colors": {"kind": "generated", "attributes": ["colors"]},
            "textures": {"kind": "generated", "attributes": ["colors", "textures"]},
            "textures_jpeg75": {"kind": "jpeg_copy", "source": "textures"},
            "box": {"kind": "generated"}}
    assert [scored_attribute(exps, e) for e in exps] == ["colors", "textures", "textures", "colors"]
