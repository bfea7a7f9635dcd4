"""instdiff.data.download against a local HTTP server (127.0.0.1, started by the test; a stand-in, tests only)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile

import pytest

from instdiff.data.download import fetch, file_digests, unzip_members
from instdiff.core.errors import InputError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB + some, several chunks


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut_first: dict[str, int] = {}  # path -> number of bytes after which the first full response is cut
    log: list[tuple[str, str | None]] = []
    honour_range = True

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        data = self.files.get(self.path)
        rng = self.headers.get("Range")
        self.log.append((self.path, rng))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and self.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.cut_first.pop(self.path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    handler = type("H", (_Handler,), {"files": {}, "cut_first": {}, "log": [], "honour_range": True})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _sha(b):
    return hashlib.sha256(b).hexdigest()


def _md5(b):
    return hashlib.md5(b).hexdigest()


def test_fetch_verifies_and_renames(server, tmp_path):
    handler, base = server
    handler.files["/a.bin"] = PAYLOAD
    dest = tmp_path / "sub" / "a.bin"
    out = fetch(base + "/a.bin", dest, sha256=_sha(PAYLOAD), md5=_md5(PAYLOAD), backoff_s=0)
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "a.bin.part").exists()
    assert file_digests(dest) == {"md5": _md5(PAYLOAD), "sha256": _sha(PAYLOAD)}
    # a verified file is not downloaded again
    n = len(handler.log)
    fetch(base + "/a.bin", dest, sha256=_sha(PAYLOAD), backoff_s=0)
    assert len(handler.log) == n


def test_fetch_resumes_after_a_cut_connection(server, tmp_path):
    handler, base = server
    handler.files["/b.bin"] = PAYLOAD
    handler.cut_first["/b.bin"] = 300_000
    dest = tmp_path / "b.bin"
    fetch(base + "/b.bin", dest, sha256=_sha(PAYLOAD), retries=2, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert handler.log[0] == ("/b.bin", None)
    assert handler.log[1] == ("/b.bin", "bytes=300000-")  # resumed, not restarted


def test_fetch_resumes_an_existing_part_file(server, tmp_path):
    handler, base = server
    handler.files["/c.bin"] = PAYLOAD
    dest = tmp_path / "c.bin"
    (tmp_path / "c.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(base + "/c.bin", dest, md5=_md5(PAYLOAD), backoff_s=0)
    assert dest.read_bytes() == PAYLOAD and handler.log == [("/c.bin", "bytes=1000-")]


def test_fetch_restarts_when_range_is_ignored(server, tmp_path):
    handler, base = server
    handler.honour_range = False
    handler.files["/d.bin"] = PAYLOAD
    dest = tmp_path / "d.bin"
    (tmp_path / "d.bin.part").write_bytes(b"garbage")
    fetch(base + "/d.bin", dest, sha256=_sha(PAYLOAD), backoff_s=0)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_names_file_and_both_sums_and_deletes_partial(server, tmp_path):
    handler, base = server
    handler.files["/e.bin"] = PAYLOAD
    dest = tmp_path / "e.bin"
    wrong = "0" * 64
    with pytest.raises(InputError) as err:
        fetch(base + "/e.bin", dest, sha256=wrong, backoff_s=0)
    msg = str(err.value)
    assert str(dest) in msg and wrong in msg and _sha(PAYLOAD) in msg
    assert not dest.exists() and not (tmp_path / "e.bin.part").exists()


def test_md5_mismatch_also_fails(server, tmp_path):
    handler, base = server
    handler.files["/f.bin"] = PAYLOAD
    with pytest.raises(InputError, match="md5 mismatch"):
        fetch(base + "/f.bin", tmp_path / "f.bin", sha256=_sha(PAYLOAD), md5="1" * 32, backoff_s=0)
    assert list(tmp_path.iterdir()) == []


def test_missing_url_is_a_clear_error(server, tmp_path):
    _, base = server
    with pytest.raises(InputError, match="HTTP 404"):
        fetch(base + "/nope", tmp_path / "x", retries=0, backoff_s=0)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_unzip_members_and_prefix(tmp_path):
    z = tmp_path / "ann.zip"
    _zip(z, {"annotations/instances_val2017.json": b"{}", "annotations/captions_val2017.json": b"[]",
             "annotations/instances_train2017.json": b"big", "val2017/1.jpg": b"x"})
    out = tmp_path / "coco"
    got = unzip_members(z, out, members=["annotations/instances_val2017.json", "annotations/captions_val2017.json"])
    assert sorted(p.name for p in got) == ["captions_val2017.json", "instances_val2017.json"]
    assert (out / "annotations/instances_val2017.json").read_bytes() == b"{}"
    assert not (out / "annotations/instances_train2017.json").exists()
    unzip_members(z, out, prefix="val2017/")
    assert (out / "val2017/1.jpg").read_bytes() == b"x"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_unzip_bad_archive_and_missing_member_leave_nothing(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.zip"):
        unzip_members(bad, tmp_path / "o1")
    z = tmp_path / "ok.zip"
    _zip(z, {"a/b.txt": b"1"})
    with pytest.raises(InputError, match="archive lacks"):
        unzip_members(z, tmp_path / "o2", members=["a/c.txt"])
    assert list((tmp_path / "o2").iterdir()) == []


def test_unzip_refuses_paths_outside_dest(tmp_path):
    z = tmp_path / "evil.zip"
    _zip(z, {"ok.txt": b"1", "../evil.txt": b"2"})
    with pytest.raises(InputError, match="outside the destination"):
        unzip_members(z, tmp_path / "o")
    assert not (tmp_path / "evil.txt").exists() and list((tmp_path / "o").iterdir()) == []


def test_unzip_coco_takes_only_val2017(tmp_path):
    from instdiff.data.download import unzip_coco

    images, anns = tmp_path / "val2017.zip", tmp_path / "annotations_trainval2017.zip"
    _zip(images, {"val2017/000000000139.jpg": b"j"})
    _zip(anns, {"annotations/instances_val2017.json": b"{}", "annotations/captions_val2017.json": b"{}",
                "annotations/instances_train2017.json": b"{}", "annotations/person_keypoints_val2017.json": b"{}"})
    unzip_coco(images, anns, tmp_path / "coco")
    got = sorted(str(p.relative_to(tmp_path / "coco")) for p in (tmp_path / "coco").rglob("*") if p.is_file())
    assert got == ["annotations/captions_val2017.json", "annotations/instances_val2017.json", "val2017/000000000139.jpg"]
