"""Items 7, 11, 12 and 16 of issue 12: the rating page refuses cross-site and rebinding requests, malformed and
endless bodies, bool scores and path-like rater names; one server per ratings file; a busy port and a bad journal
line are clear errors. Item 7 of issue 24: absurd paths get 404 and absurd bodies 400 (length and nesting limits),
each request has one total deadline (slow-loris), and at most MAX_WORKERS connections are served at once (503
beyond). All traffic goes to 127.0.0.1, a bounded number of requests."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest
from PIL import Image

from instdiff.raters import page as raters_page
from instdiff.core.errors import InputError
from instdiff.raters.page import RatingSession, journal_path, make_server, out_lock, skipped_path

from tests.faults.checks import assert_no_secret, assert_nothing_half_written

pytestmark = pytest.mark.timeout(60)  # a regression that lets a server start must fail, not hang CI


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("1.png", "2.png"):
        Image.new("RGB", (8, 8)).save(folder / name)
    return folder


@pytest.fixture
def served(images, tmp_path, monkeypatch):
    monkeypatch.setattr(raters_page, "READ_TIMEOUT_S", 0.5)
    out = tmp_path / "out" / "r.csv"
    session = RatingSession(images, "alice", out, 2024, criteria=["overall"])
    server = make_server(session, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    page = _raw(port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    token = re.search(rb'name="instdiff-token" content="([^"]+)"', page).group(1).decode()
    yield {"port": port, "token": token, "out": out, "session": session}
    server.shutdown()
    server.server_close()


def _raw(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send ``request`` as is; return everything the server answers before closing (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


def _post(port, body: bytes, headers: dict) -> bytes:
    head = {"Host": f"127.0.0.1:{port}", "Content-Length": str(len(body)), "Connection": "close", **headers}
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items() if v is not None)
    return _raw(port, f"POST /api/answer HTTP/1.1\r\n{lines}\r\n".encode() + body)


ANSWER = json.dumps({"index": 0, "criterion": "overall", "score": 4}).encode()


def _nothing_saved(served, tmp_path):
    assert not served["out"].exists() and not journal_path(served["out"]).exists()
    assert_nothing_half_written(tmp_path)
    assert_no_secret(tmp_path, served["token"])


ATTACKS = [
    ("cross-site text/plain", {"Content-Type": "text/plain", "Origin": "http://evil.example"}, False, 403),
    ("text/plain with token", {"Content-Type": "text/plain"}, True, 415),
    ("foreign origin with token", {"Content-Type": "application/json", "Origin": "http://evil.example"}, True, 403),
    ("cross-site fetch", {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, True, 403),
    ("no token", {"Content-Type": "application/json"}, False, 403),
    ("rebinding host", {"Content-Type": "application/json", "Host": "evil.example:80"}, True, 421),
]


@pytest.mark.parametrize("label,headers,with_token,status", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_cross_site_answers_are_refused(served, tmp_path, label, headers, with_token, status):
    token = {"X-Instdiff-Token": served["token"]} if with_token else {}
    assert _status(_post(served["port"], ANSWER, {**token, **headers})) == status
    _nothing_saved(served, tmp_path)


def test_the_page_itself_still_saves(served, tmp_path):
    answer = _post(served["port"], ANSWER, {"Content-Type": "application/json", "X-Instdiff-Token": served["token"],
                                             "Origin": f"http://127.0.0.1:{served['port']}"})
    assert _status(answer) == 200 and served["out"].exists()
    assert_nothing_half_written(tmp_path)
    assert_no_secret(tmp_path, served["token"])


def test_rebinding_cannot_read_the_state(served, tmp_path):
    port, token = served["port"], served["token"]
    get = f"GET /api/state HTTP/1.1\r\nHost: rebind.evil.example:{port}\r\nX-Instdiff-Token: {token}\r\n\r\n"
    answer = _raw(port, get.encode())
    assert _status(answer) == 421 and b"items" not in answer
    no_token = f"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    assert _status(_raw(port, no_token.encode())) == 403


@pytest.mark.parametrize("length,body,status", [("-1", b"", 411), ("abc", b"", 411), ("999999", b"{}", 413),
                                                ("50", b'{"index"', 408)])
def test_bad_lengths_and_stalled_bodies_end_quickly(served, tmp_path, length, body, status):
    start = time.monotonic()
    head = (f"POST /api/answer HTTP/1.1\r\nHost: 127.0.0.1:{served['port']}\r\nContent-Type: application/json\r\n"
            f"X-Instdiff-Token: {served['token']}\r\nContent-Length: {length}\r\n\r\n").encode()
    assert _status(_raw(served["port"], head + body, timeout=5.0)) == status
    assert time.monotonic() - start < 5.0  # answered (or dropped) by the server, not by our socket timeout
    _nothing_saved(served, tmp_path)


@pytest.mark.parametrize("field,value", [("score", True), ("index", False), ("score", 4.0), ("criterion", 1)])
def test_strict_types_keep_the_journal_readable(served, images, tmp_path, field, value):
    body = json.dumps({"index": 0, "criterion": "overall", "score": 4, field: value}).encode()
    answer = _post(served["port"], body, {"Content-Type": "application/json", "X-Instdiff-Token": served["token"]})
    assert _status(answer) == 400
    _nothing_saved(served, tmp_path)
    served["session"].record(1, "overall", 5)
    assert RatingSession(images, "alice", served["out"], 2024, criteria=["overall"]).answers  # resumes


def test_a_bad_journal_line_names_the_skip_option(images, tmp_path):
    out = tmp_path / "r.csv"
    RatingSession(images, "alice", out, 2024).record(0, "overall", 4)
    good = journal_path(out).read_text()
    bad = json.dumps({**json.loads(good), "score": True})
    journal_path(out).write_text(good + bad + "\n")
    with pytest.raises(InputError, match="line 2.*--skip-bad-journal-lines"):
        RatingSession(images, "alice", out, 2024)
    session = RatingSession(images, "alice", out, 2024, skip_bad_lines=True)
    assert len(session.answers) == 1
    assert journal_path(out).read_text() == good and skipped_path(out).read_text() == bad + "\n"
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "r 1", "", "x" * 65, "r1\n"])
def test_rater_names_cannot_be_paths(images, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    from instdiff.cli import main

    assert main(["rate", "--images", str(images), "--rater", name, "--port", "0"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]


def test_one_server_per_ratings_file(tmp_path):
    out = tmp_path / "r.csv"
    with out_lock(out):
        with pytest.raises(InputError, match="another rating server"):
            with out_lock(out):
                pass
    with out_lock(out):  # released with the first holder
        pass


def test_a_busy_port_is_a_clear_error(images, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        session = RatingSession(images, "alice", tmp_path / "r.csv", 2024)
        with pytest.raises(InputError, match=r"cannot listen on 127\.0\.0\.1:\d+.*--port"):
            make_server(session, busy.getsockname()[1])


@pytest.mark.parametrize("path,status", [("/image/-1", 404), ("/image/%C2%B2", 404), ("/image/0", 200)])
def test_pictures_only_by_their_position(served, path, status):
    get = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{served['port']}\r\nConnection: close\r\n\r\n"
    assert _status(_raw(served["port"], get.encode())) == status


def test_a_non_ascii_token_is_refused_not_crashed(served, tmp_path):
    head = (f"POST /api/answer HTTP/1.1\r\nHost: 127.0.0.1:{served['port']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(ANSWER)}\r\nConnection: close\r\n").encode() + "X-Instdiff-Token: é\r\n\r\n".encode("latin-1")
    assert _status(_raw(served["port"], head + ANSWER)) == 403
    _nothing_saved(served, tmp_path)


def test_the_rate_command_takes_the_lock(images, tmp_path, capsys):
    from instdiff.cli import main

    out = tmp_path / "r.csv"
    with out_lock(out):  # another server holds this ratings table
        assert main(["rate", "--images", str(images), "--rater", "bob", "--port", "0", "--out", str(out)]) == 2
    assert "another rating server" in capsys.readouterr().err
    assert not out.exists() and not journal_path(out).exists()


# --------------------------------------------------------------------------------------------- issue 24 item 7


def _get(port: int, path: str) -> bytes:
    return _raw(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())


@pytest.mark.parametrize("path", ["/image/" + "7" * 5000, "/image/" + "0" * 5000 + "1", "/api/state/" + "x" * 300],
                         ids=["5000 digits", "5000 leading zeros", "300-character api path"])
def test_absurd_paths_are_404_and_the_server_lives_on(served, capfd, path):
    assert _status(_get(served["port"], path)) == 404
    assert _status(_get(served["port"], "/image/0")) == 200
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("body", [b"[" * 2000 + b"]" * 2000, b'{"index": ' + b"[" * 100 + b"]" * 100 + b"}"],
                         ids=["2000-deep array", "100-deep value"])
def test_deeply_nested_json_is_400(served, tmp_path, capfd, body):
    answer = _post(served["port"], body, {"Content-Type": "application/json", "X-Instdiff-Token": served["token"]})
    assert _status(answer) == 400 and b"nested deeper" in answer
    assert "Traceback" not in capfd.readouterr().err
    _nothing_saved(served, tmp_path)


def test_a_slow_loris_client_is_dropped_at_the_request_deadline(served):
    """READ_TIMEOUT_S is 0.5 s here (the fixture): one header line every 0.2 s keeps every single read inside it;
    the whole request must still be dropped soon after 0.5 s, not held for as long as the client drips."""
    port = served["port"]
    start = time.monotonic()
    closed_after = None
    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        for k in range(50):  # up to 10 s of dripping
            try:
                sock.sendall(f"X-Drip-{k}: a\r\n".encode())
                if sock.recv(1024) == b"":
                    closed_after = time.monotonic() - start
                    break
            except TimeoutError:
                continue  # still open: nothing to read yet
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - start
                break
    assert closed_after is not None, "the server kept a dripping client for 10 s"
    assert closed_after < 3.0
    assert _status(_get(port, "/")) == 200


def test_connections_beyond_the_worker_pool_get_503(images, tmp_path, monkeypatch):
    monkeypatch.setattr(raters_page, "MAX_WORKERS", 2)
    monkeypatch.setattr(raters_page, "READ_TIMEOUT_S", 3.0)
    session = RatingSession(images, "alice", tmp_path / "out" / "r.csv", 2024, criteria=["overall"])
    server = make_server(session, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        holders = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]  # idle: each holds a worker
        time.sleep(0.3)
        assert _status(_get(port, "/")) == 503
        for sock in holders:
            sock.close()
        deadline = time.monotonic() + 10
        while _status(_get(port, "/")) != 200:  # the workers come back once the idle clients are gone
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        server.shutdown()
        server.server_close()
