"""An external experiment through the workflow itself (a few targeted jobs on a temporary copy, not the smoke DAG):
the smoke's real 512x512 images, handed in as a model's images for the box layouts, score exactly the real row's
box AP; adding the experiment to a finished run reruns nothing of the others; a bad `layouts:` stops at parse time.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.workflow.conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.workflow

SMOKE = "config/smoke.yaml"
EXTERNAL = "config/external.yaml"
REAL_AP = "results/smoke/metrics/real/coco_bbox.json"
EXT_AP = "results/smoke/metrics/mymodel/coco_bbox.json"
BOX_LAYOUTS = "results/smoke/layouts/box.jsonl"


def _with_external(root: Path, **entry) -> None:
    config = yaml.safe_load((root / SMOKE).read_text())
    config["experiments"]["mymodel"] = {"kind": "external", "images": "handin", "layouts": "box",
                                        "label": "My model", "metrics": ["coco_bbox"], **entry}
    (root / EXTERNAL).write_text(yaml.safe_dump(config))


def _planned(root: Path, *targets: str, config: str) -> list[tuple[str, str]]:
    """(rule, output) of every job a dry run would start."""
    out = run_snakemake([*targets, "-n", "--configfile", config], cwd=root).stdout
    return re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    output: (.*)$", out, re.M)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("external") / "repo")
    # A finished run of the smoke config: the real row's box AP and the box layouts the hand-in follows.
    run_snakemake([REAL_AP, BOX_LAYOUTS, "--cores", "2", "--configfile", SMOKE], cwd=root)
    handin = root / "handin"  # the user's folder: the real images, named by layout id
    handin.mkdir()
    for png in (root / "results/smoke/images/real").glob("*.png"):
        shutil.copyfile(png, handin / png.name)
    _with_external(root)
    return root


def test_adding_an_external_experiment_reruns_no_other(root):
    planned = _planned(root, REAL_AP, BOX_LAYOUTS, EXT_AP, config=EXTERNAL)
    assert {rule for rule, _ in planned} == {"external_layouts", "external_images", "experiment_manifest", "detect",
                                             "coco_ap"}, planned
    assert all("/mymodel" in output for _, output in planned), planned  # the real row's files stay as they are


def test_real_images_handed_in_score_exactly_the_real_rows_ap(root):
    run_snakemake([EXT_AP, "--cores", "2", "--configfile", EXTERNAL], cwd=root)
    real = json.loads((root / REAL_AP).read_text())
    ext = json.loads((root / EXT_AP).read_text())
    assert real["values"]["ap"] > 0 and ext["values"] == real["values"]
    assert ext["per_category"] == real["per_category"] and ext["intervals"] == real["intervals"]
    done = json.loads((root / "results/smoke/images/mymodel/done.json").read_text())
    assert done["external"]["row"] == "My model (external images)" and done["n"] == 12
    assert not (root / "results/smoke/images/mymodel/shards").exists(), "nothing is generated"


def test_an_unknown_layouts_experiment_stops_at_parse_time(root, tmp_path):
    _with_external(root, layouts="boxes")
    try:
        with pytest.raises(AssertionError, match=r"experiments\.mymodel\.layouts is 'boxes'"):
            run_snakemake([EXT_AP, "-n", "--configfile", EXTERNAL], cwd=root)
    finally:
        _with_external(root)


def test_the_external_experiment_gets_per_instance_records(root):
    records = "results/smoke/metrics/mymodel/instances.jsonl"
    planned = _planned(root, records, config=EXTERNAL)
    assert "instances" in {rule for rule, _ in planned}
    run_snakemake([records, "--cores", "2", "--configfile", EXTERNAL], cwd=root)
    rows = [json.loads(s) for s in (root / records).read_text().splitlines()]
    layouts = [json.loads(s) for s in (root / "results/smoke/layouts/mymodel.jsonl").read_text().splitlines()]
    assert len(rows) == sum(len(lay["instances"]) for lay in layouts)
    assert {r["detector"] for r in rows} == {"yolov8m"} and all(r["pim"] is None for r in rows)
    matched = [r for r in rows if r["detection"] is not None]
    assert matched and all(r["iou"] >= 0.5 and r["detection"]["category_id"] == r["category_id"] for r in matched)
