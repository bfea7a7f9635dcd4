"""Item 15 of issue 12: a server that drips bytes cannot hold a download forever (minimum throughput and an
overall deadline), and a failed download says truthfully whether a ``.part`` file is kept. Item 2 of issue 24: nor
the LLM stage (a wall-clock deadline per request and per stage, not only httpx's per-read timeout)."""

from __future__ import annotations

import json
import time

import openai  # noqa: F401 - imported here, not inside the timed calls (2 s on a busy machine)
import pytest

from instdiff.data.download import fetch
from instdiff.core.errors import InputError
from instdiff.llm.stage import make_layouts

from tests.faults.checks import assert_nothing_half_written
from tests.faults.llm_server import answer_by_seed, api_section, read_request
from tests.faults.servers import reply, serve


def _drip(n_bytes: int, every_s: float, length: int = 1000):
    def handle(h):
        h.send_response(200)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        for _ in range(n_bytes):  # bounded: the handler ends even if the client never gives up
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(every_s)
    return handle


def test_a_dripping_server_is_dropped_for_low_throughput(tmp_path):
    dest = tmp_path / "val2017.zip"
    start = time.monotonic()
    with serve(_drip(40, 0.05)) as server, pytest.raises(InputError, match="stalled") as info:
        fetch(server["url"] + "/val2017.zip", dest, retries=1, backoff_s=0, timeout=5,
              min_bytes_per_s=200, stall_window_s=0.3)
    assert time.monotonic() - start < 1.8  # two windows, not the 2 s the server would drip
    assert server["count"] == 2  # retried once, then given up
    part = tmp_path / "val2017.zip.part"
    assert part.exists() and f"{part} ({part.stat().st_size} bytes) is kept" in str(info.value)
    assert not dest.exists()
    assert_nothing_half_written(tmp_path, allow_part=True)


def test_the_overall_deadline_ends_even_a_steady_trickle(tmp_path):
    dest = tmp_path / "a.bin"
    with serve(_drip(40, 0.05)) as server, pytest.raises(InputError, match="deadline"):
        fetch(server["url"] + "/a.bin", dest, retries=5, backoff_s=0, timeout=5, min_bytes_per_s=0,
              stall_window_s=0.1, deadline_s=0.4)
    assert server["count"] == 1  # no retry after the deadline
    assert not dest.exists()
    assert_nothing_half_written(tmp_path, allow_part=True)


def test_a_server_error_does_not_claim_a_kept_part_file(tmp_path):
    dest = tmp_path / "b.bin"
    with serve(lambda h: reply(h, 500, {"error": "boom"})) as server, pytest.raises(InputError) as info:
        fetch(server["url"] + "/b.bin", dest, retries=1, backoff_s=0, timeout=5)
    assert server["count"] == 2
    assert "nothing was downloaded" in str(info.value) and "is kept" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert_nothing_half_written(tmp_path)


# ------------------------------------------------------------------ issue 24, item 2: the LLM stage's wall clock

def _llm_drip(n_bytes: int, every_s: float):
    """Headers at once, then a body of one byte every ``every_s``: each read is quick, the response never ends."""
    def handle(h):
        read_request(h)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(n_bytes + 1000))
        h.end_headers()
        for _ in range(n_bytes):  # bounded: the handler ends even if the client never gives up
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(every_s)
    return handle


def test_a_dripping_llm_server_is_cut_at_the_request_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fault-test-drip")
    section = api_section("", 1, timeout_s=5, request_deadline_s=0.4, max_attempts=2)
    start = time.monotonic()
    with serve(_llm_drip(100, 0.05)) as server, pytest.raises(RuntimeError, match="1 layouts failed") as info:
        section["api"]["base_url"] = server["url"] + "/v1"
        make_layouts(section, 2024, [tmp_path / "layouts.jsonl"], tmp_path / "requests.jsonl", tmp_path / "cache")
    elapsed = time.monotonic() - start
    assert elapsed < 3.5, f"held {elapsed:.1f}s by a server that drips (5 s per response)"
    assert server["count"] == 2  # the deadline is a timeout: retried once, then given up
    record = json.loads((tmp_path / "requests.jsonl").read_text())
    assert "request_deadline_s" in record["error"] and str(tmp_path / "requests.jsonl") in str(info.value)
    assert not (tmp_path / "layouts.jsonl").exists()
    assert_nothing_half_written(tmp_path)


def test_the_llm_stage_deadline_stops_sending_and_a_rerun_resumes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fault-test-drip")
    paths = ([tmp_path / "layouts.jsonl"], tmp_path / "requests.jsonl", tmp_path / "cache")
    start = time.monotonic()
    with serve(answer_by_seed(delay_s=0.3)) as server:
        section = api_section(server["url"], 8, stage_deadline_s=1.0)
        with pytest.raises(InputError, match="llm.api.stage_deadline_s") as info:
            make_layouts(section, 2024, *paths)
        assert time.monotonic() - start < 2.5  # not the 2.4 s that 8 answers take
        answered = server["count"]
        assert 2 <= answered < 8
        assert "rerun to continue" in str(info.value) and str(paths[1]) in str(info.value)
        statuses = [json.loads(line)["status"] for line in paths[1].read_text().splitlines()]
        assert len(statuses) == 8 and statuses.count("ok") == answered - 1 and "not sent" in statuses
        layouts = make_layouts({**section, "api": {**section["api"], "stage_deadline_s": None}}, 2024, *paths)
        assert len(layouts) == 8 and server["count"] == 8 + 1  # the unanswered one and the 8 - answered others
    assert_nothing_half_written(tmp_path)
