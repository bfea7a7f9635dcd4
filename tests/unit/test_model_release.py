"""The release checkpoint download (resume, SHA256, atomic rename) against a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from instdiff.core.errors import InputError
from instdiff.model import release

PAYLOAD = bytes(range(256)) * 400


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        start = 0
        rng = self.headers.get("Range")
        if rng and self.server.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(params=[True, False], ids=["range", "no-range"])
def server(request):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    srv.honour_range = request.param
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/ckpt.pth"
    srv.shutdown()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_checkpoint_resumes_and_verifies(server, tmp_path, monkeypatch):
    monkeypatch.setattr(release, "CHECKPOINT_URL", server)
    monkeypatch.setattr(release, "CHECKPOINT_SHA256", SHA)
    dest = tmp_path / "ckpt.pth"
    (tmp_path / "ckpt.pth.part").write_bytes(PAYLOAD[:1000])
    release.download_checkpoint(dest)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "ckpt.pth.part").exists()


def test_download_checkpoint_checksum_mismatch_leaves_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setattr(release, "CHECKPOINT_URL", server)
    monkeypatch.setattr(release, "CHECKPOINT_SHA256", "0" * 64)
    dest = tmp_path / "ckpt.pth"
    with pytest.raises(InputError, match="(?i)sha256 mismatch"):
        release.download_checkpoint(dest)
    assert not dest.exists() and not (tmp_path / "ckpt.pth.part").exists()


def test_release_constants():
    assert len(release.CHECKPOINT_SHA256) == 64 and len(release.TOKENIZER_REVISION) == 40
    assert release.CHECKPOINT_URL.endswith("/instancediffusion_sd15.pth")
    assert {"vocab.json", "merges.txt"} <= set(release.TOKENIZER_FILES)
