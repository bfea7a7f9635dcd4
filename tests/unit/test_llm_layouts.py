"""Replay source, reply validation and the legacy box-format switch, on hand-made replies and the shipped layouts."""

import json
from pathlib import Path

import pytest

from instdiff.core.errors import InputError
from instdiff.core.layout import read_layouts
from instdiff.llm.prompt import SCENE_TYPES, draw_scene_type, response_format
from instdiff.llm.replay import replay_layouts
from instdiff.llm.stage import apply_box_format, given_boxes, intended_boxes, make_layouts
from instdiff.llm.validate import check_reply
from tests.conftest import shared_fixtures

REPO = Path(__file__).resolve().parents[2]
SHARED = shared_fixtures()
REPLAY = SHARED / "extension" / "gpt4o-layouts-2024-05-19"
needs_replay = pytest.mark.skipif(not REPLAY.is_dir(), reason=f"no replay fixtures in {REPLAY}")


def reply(instances, caption="A scene."):
    return json.dumps({"caption": caption, "instances": instances})


def inst(category, box, caption="thing"):
    return {"caption": caption, "category": category, "box": dict(zip(["x_min", "y_min", "x_max", "y_max"], box))}


def test_scene_draw_is_seeded_and_uses_the_nine_types():
    assert len(SCENE_TYPES) == 9
    assert draw_scene_type(1, "desc_001") == draw_scene_type(1, "desc_001")
    drawn = {draw_scene_type(1, f"desc_{k:03d}") for k in range(200)}
    assert drawn == set(SCENE_TYPES)


def test_schema_is_strict_and_names_the_box_format():
    schema = response_format()["json_schema"]
    assert schema["strict"] is True
    box = schema["schema"]["$defs"]["PixelBox"]
    assert set(box["required"]) == {"x_min", "y_min", "x_max", "y_max"} and box["additionalProperties"] is False


def test_valid_reply_is_normalised():
    c = check_reply(reply([inst("Traffic Light", [0, 256, 128, 512])]), "d")
    assert c.ok and c.layout.instances[0].box == (0.0, 0.5, 0.25, 1.0)
    assert c.layout.instances[0].category == "traffic light" and c.layout.instances[0].category_id == 10


@pytest.mark.parametrize(
    "text, problem",
    [
        ("not json", "not valid JSON"),
        ("", "empty"),
        ('{"caption": "x"}', "instances"),
        (reply([]), "no instances"),
        (reply([inst("dog", [10, 10, 10, 50])]), "empty"),
        (reply([inst("dog", [-1, 0, 10, 10])]), "leaves the 512x512 canvas"),
        (reply([inst("dog", [0, 0, 10, 513])]), "leaves the 512x512 canvas"),
        (reply([inst("Tractor", [0, 0, 10, 10])]), "not in the list"),
    ],
)
def test_invalid_replies_name_the_problem(text, problem):
    c = check_reply(text, "d")
    assert not c.ok and any(problem in p for p in c.problems)


def test_out_of_vocabulary_policies_count():
    text = reply([inst("Tractor", [0, 0, 10, 10]), inst("dog", [0, 0, 20, 20])])
    dropped = check_reply(text, "d", out_of_vocabulary="drop")
    kept = check_reply(text, "d", out_of_vocabulary="keep")
    assert [i.category for i in dropped.layout.instances] == ["dog"] and dropped.out_of_vocabulary == ["Tractor"]
    assert kept.layout.instances[0].category_id is None and kept.layout.meta["out_of_vocabulary"] == ["Tractor"]


def test_legacy_box_format_feeds_corners_as_width_height():
    c = check_reply(reply([inst("laptop", [50, 50, 150, 150]), inst("dog", [400, 300, 470, 480])]), "d")
    legacy = apply_box_format(c.layout, True)
    px = [tuple(round(v * 512) for v in i.box) for i in legacy.instances]
    assert px == [(50, 50, 200, 200), (400, 300, 870, 780)]  # unclipped, as inference.py fed it
    assert legacy.instances[1].point == pytest.approx((635 / 512, 540 / 512))  # centre of the misread box
    assert [tuple(round(v * 512) for v in b) for b in given_boxes(legacy)] == [(50, 50, 200, 200), (400, 300, 512, 512)]
    assert intended_boxes(legacy) == intended_boxes(c.layout) == [i.box for i in c.layout.instances]
    assert legacy.meta["box_format_fed"] == "legacy_xywh" and apply_box_format(c.layout, False) is c.layout


@needs_replay
def test_replay_of_the_shipped_layouts():
    layouts = replay_layouts(REPLAY)
    assert len(layouts) == 100 and layouts[0].id == "desc_001" and layouts[-1].id == "desc_100"
    assert sum(len(lay.instances) for lay in layouts) == 700
    assert sum(len(lay.meta["out_of_vocabulary"]) for lay in layouts) == 49
    first = layouts[0].instances[0]
    assert first.phrase == "A person jogging in the park." and first.category == "person"
    assert first.box == pytest.approx((50 / 512, 300 / 512, 120 / 512, 450 / 512))
    legacy = [apply_box_format(lay, True) for lay in layouts]
    assert sum(any(v > 1 for v in i.box) for lay in legacy for i in lay.instances) == 505


@needs_replay
def test_stage_replay_writes_both_layout_files(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # replay needs no key
    section = {"source": "replay", "n_layouts": 3, "legacy_box_format": True, "replay": {"dir": str(REPLAY)}}
    make_layouts(section, 0, [tmp_path / "llm" / "layouts.jsonl", tmp_path / "layouts" / "llm.jsonl"], tmp_path / "r.jsonl", tmp_path / "c")
    layouts = read_layouts(tmp_path / "layouts" / "llm.jsonl")
    assert [lay.id for lay in layouts] == ["desc_001", "desc_002", "desc_003"]
    assert layouts[0].meta["box_format_fed"] == "legacy_xywh"
    assert (tmp_path / "llm" / "layouts.jsonl").read_text() == (tmp_path / "layouts" / "llm.jsonl").read_text()


def test_replay_rejects_a_bad_box(tmp_path):
    (tmp_path / "chatgpt_descriptions_bboxes1.json").write_text(
        json.dumps({"caption": "x", "width": 512, "height": 512, "annos": [{"bbox": [10, 10, 5, 50], "category_name": "Dog", "caption": "d"}]})
    )
    with pytest.raises(InputError, match=r"annos\[0\]\.bbox"):
        replay_layouts(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        replay_layouts(tmp_path / "missing")
