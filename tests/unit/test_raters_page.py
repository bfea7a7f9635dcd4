"""The rating page's server side: image discovery, per-rater order, blinding, durable answers, resume."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request

import pytest
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.raters.images import discover_images, read_captions
from instdiff.raters.page import RatingSession, journal_path, make_server, rater_order
from instdiff.raters.table import read_ratings


def make_images(folder, names, size=(8, 8)):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", size, (40 * i % 255, 80, 120)).save(folder / name)
    return folder


@pytest.fixture
def flat(tmp_path):
    """The extension's naming: {id}.png raw, {id}_xl_s0.4_n20.png refined, {id}_boxes.png skipped."""
    return make_images(tmp_path / "imgs", ["0.png", "0_xl_s0.4_n20.png", "0_boxes.png", "3.png", "3_xl_s0.4_n20.png"])


def test_discover_flat_extension_naming(flat):
    found = [(i.image_id, i.variant) for i in discover_images(flat)]
    assert found == [("0", "raw"), ("0", "refined"), ("3", "raw"), ("3", "refined")]


def test_discover_variant_folders(tmp_path):
    make_images(tmp_path / "s" / "raw", ["a.png", "b.png"])
    make_images(tmp_path / "s" / "refined", ["a.png"])
    found = [(i.image_id, i.variant) for i in discover_images(tmp_path / "s")]
    assert found == [("a", "raw"), ("a", "refined"), ("b", "raw")]


def test_discover_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        discover_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        discover_images(tmp_path / "empty")
    make_images(tmp_path / "dup", ["7.png", "7.jpg"])
    with pytest.raises(InputError, match="also exists"):
        discover_images(tmp_path / "dup")


def test_captions_from_layouts_jsonl_and_json(tmp_path):
    jl = tmp_path / "layouts.jsonl"
    jl.write_text('{"id": "0", "caption": "a park", "instances": []}\n{"id": "3", "caption": "a kitchen"}\n')
    assert read_captions(jl) == {"0": "a park", "3": "a kitchen"}
    js = tmp_path / "c.json"
    js.write_text('{"0": "a park"}')
    assert read_captions(js) == {"0": "a park"}
    jl.write_text('{"id": "0"}\n')
    with pytest.raises(InputError, match="caption"):
        read_captions(jl)


def test_order_is_seeded_per_rater(flat):
    images = discover_images(flat)
    a = [(i.image_id, i.variant) for i in rater_order(images, "alice", 2024)]
    assert a == [(i.image_id, i.variant) for i in rater_order(images, "alice", 2024)]
    assert sorted(a) == sorted((i.image_id, i.variant) for i in images)
    orders = {tuple((i.image_id, i.variant) for i in rater_order(images, f"r{k}", 2024)) for k in range(10)}
    assert len(orders) > 1  # raters do not all share one order


def test_state_is_blinded(flat, tmp_path):
    session = RatingSession(flat, "alice", tmp_path / "out.csv", 2024)
    text = json.dumps(session.state())
    for secret in ("raw", "refined", "_xl", ".png", '"0"', '"3"'):
        assert secret not in text


def test_answers_are_journaled_and_resumed(flat, tmp_path):
    out = tmp_path / "out.csv"
    s = RatingSession(flat, "alice", out, 2024, criteria=["scene_fit", "overall"])
    assert s.resume_index() == 0
    s.record(0, "scene_fit", 4)
    s.record(0, "overall", 2)
    s.record(0, "overall", 3)  # changed their mind: the last answer wins
    s.record(1, "scene_fit", 5)
    assert len(journal_path(out).read_text().splitlines()) == 4
    df = read_ratings(out)
    assert len(df) == 3 and df["rater_id"].unique().tolist() == ["alice"]
    first = s.items[0]
    row = df[(df.image_id == first.image_id) & (df.variant == first.variant) & (df.criterion == "overall")]
    assert row["score"].tolist() == [3]

    again = RatingSession(flat, "alice", out, 2024, criteria=["scene_fit", "overall"])
    assert again.resume_index() == 1  # picture 0 complete, picture 1 half-rated
    assert again.item_answers(1) == {"scene_fit": 5}
    assert [i.path for i in again.items] == [i.path for i in s.items]


def test_torn_last_journal_line_is_dropped(flat, tmp_path):
    out = tmp_path / "out.csv"
    s = RatingSession(flat, "alice", out, 2024)
    s.record(0, "overall", 4)
    with journal_path(out).open("a") as fh:
        fh.write('{"image_id": "0", "rater')  # the server died mid-write
    again = RatingSession(flat, "alice", out, 2024)
    assert len(again.answers) == 1
    again.record(1, "overall", 2)
    assert len(RatingSession(flat, "alice", out, 2024).answers) == 2


def test_journal_of_another_rater_is_refused(flat, tmp_path):
    out = tmp_path / "out.csv"
    RatingSession(flat, "alice", out, 2024).record(0, "overall", 4)
    with pytest.raises(InputError, match="own --out"):
        RatingSession(flat, "bob", out, 2024)


def test_table_without_journal_is_imported(flat, tmp_path):
    out = tmp_path / "out.csv"
    RatingSession(flat, "alice", out, 2024).record(2, "overall", 1)
    journal_path(out).unlink()
    again = RatingSession(flat, "alice", out, 2024)
    assert len(again.answers) == 1 and journal_path(out).exists()


def test_http_api(flat, tmp_path):
    out = tmp_path / "out.csv"
    session = RatingSession(flat, "alice", out, 2024, criteria=["overall"])
    server = make_server(session, port=0)
    assert server.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        html = urllib.request.urlopen(base + "/").read().decode()
        assert "keydown" in html
        token = {"X-Instdiff-Token": re.search(r'name="instdiff-token" content="([^"]+)"', html).group(1)}
        state = json.loads(urllib.request.urlopen(urllib.request.Request(base + "/api/state", headers=token)).read())
        assert len(state["items"]) == 4 and state["resume"] == 0
        img = urllib.request.urlopen(base + "/image/0")
        assert img.headers["Content-Type"] == "image/png" and img.read() == session.items[0].path.read_bytes()
        req = urllib.request.Request(base + "/api/answer", data=json.dumps({"index": 0, "criterion": "overall",
                                     "score": 5}).encode(), headers={"Content-Type": "application/json", **token})
        assert json.loads(urllib.request.urlopen(req).read())["answers"] == {"overall": 5}
        bad = urllib.request.Request(base + "/api/answer", data=json.dumps({"index": 0, "criterion": "overall",
                                     "score": 9}).encode(), headers={"Content-Type": "application/json", **token})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(bad)
        assert exc.value.code == 400
    finally:
        server.shutdown()
        server.server_close()
    assert read_ratings(out)["score"].tolist() == [5]
