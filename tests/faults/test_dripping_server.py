"""Item 15 of issue 12: a server that drips bytes cannot hold a download forever (minimum throughput and an
overall deadline), and a failed download says truthfully whether a ``.part`` file is kept."""

from __future__ import annotations

import time

import pytest

from instdiff.data.download import fetch
from instdiff.core.errors import InputError

from tests.faults.checks import assert_nothing_half_written
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
