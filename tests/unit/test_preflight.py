"""`instdiff preflight` lists every missing prerequisite of a run at once; `instdiff pin` fills the pins in from a
server (here one on 127.0.0.1), trust on first use."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections import namedtuple

import pytest
import yaml

from instdiff.cli import main
from instdiff.commands import pin as pin_cmd
from instdiff.commands import preflight
from instdiff.core.errors import InputError
from instdiff.core.workflow_checks import PLACEHOLDER
from tests.conftest import REPO

PAPER = REPO / "config" / "config.yaml"
PROFILE = REPO / "slurm" / "config.yaml"
# The downloads config/config.yaml ships without a pin (its comments say why: our sandbox could not fetch them).
PAPER_UNPINNED = {
    "models.sha256.yolov8m", "models.sha256.yolov8m-seg", "models.sha256.ViT-L-14_laion2b_s32b_b82k",
    "experiments.llm.refiner.revision", "llm.grounding.scorers.grounding_dino.revision",
    "llm.grounding.scorers.owlv2.revision", "llm.clip.sha256",
    "models.gligen.revision",  # GLIGEN's release folder (experiment gligen_box)
}


def _paper_gaps(tmp_path, **kw):
    return preflight.gaps(preflight.merged_config([PAPER]), "config/config.yaml", PROFILE, **{
        "environ": {}, "workdir": tmp_path, "check_cuda": False, **kw})


def test_the_paper_config_lists_every_known_gap_in_one_message(tmp_path, capsys):
    found = _paper_gaps(tmp_path)
    pins = {line.split(": ")[1] for line in found if line.endswith("(not pinned)")}
    assert pins == PAPER_UNPINNED
    placeholders = set(PLACEHOLDER.findall(PROFILE.read_text()))
    assert len(placeholders) >= 4
    listed = [line for line in found if line.startswith("profile placeholder")]
    assert {line.split()[2] for line in listed} == placeholders and len(listed) == len(placeholders)
    assert any("OPENAI_API_KEY" in line for line in found)
    # The command prints them together, in one message, and fails.
    assert main(["preflight", "--configfile", str(PAPER), "--profile", str(PROFILE), "--no-cuda"]) == 1
    err = capsys.readouterr().err
    assert err.count("preflight:") == 1
    assert all(key in err for key in PAPER_UNPINNED) and all(p in err for p in placeholders)


def test_a_key_in_the_environment_and_a_replay_source_need_no_key(tmp_path):
    assert not any("OPENAI_API_KEY" in g for g in _paper_gaps(tmp_path, environ={"OPENAI_API_KEY": "sk-x"}))
    config = preflight.merged_config([PAPER])
    config["llm"]["source"] = "replay"
    assert preflight.api_key_gap(config, {}) == []


def test_the_smoke_config_has_nothing_missing(tmp_path):
    config = preflight.merged_config([REPO / "config" / "smoke.yaml"])
    assert preflight.gaps(config, "config/smoke.yaml", None, environ={}, workdir=tmp_path) == []


def test_free_disk_against_the_downloads_still_to_fetch(tmp_path, monkeypatch):
    config = preflight.merged_config([PAPER])
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: usage(0, 0, 10**9))
    [line] = preflight.disk_gap(config, tmp_path)
    need = sum(d.size for d in preflight.downloads(config) if d.size)
    assert f"{need / 1e9:.1f} GB" in line and "1.0 GB free" in line and "unknown size" in line
    for d in preflight.downloads(config):  # everything already fetched: nothing to check
        (tmp_path / "resources" / d.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "resources" / d.path).touch()
    assert preflight.disk_gap(config, tmp_path) == []


def test_a_visible_driver_with_a_torch_that_cannot_use_it_is_listed(monkeypatch):
    import torch

    from instdiff.core import device

    monkeypatch.setattr(device, "nvidia_driver", lambda: "418.39")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    [line] = preflight.cuda_gap({"device": "cuda"})
    assert "418.39" in line and torch.__version__ in line
    assert preflight.cuda_gap({"device": "cpu"}) == []
    monkeypatch.setattr(device, "nvidia_driver", lambda: None)  # no GPU visible: nothing to compare
    assert preflight.cuda_gap({"device": "cuda"}) == []


# --------------------------------------------------------------------------------------------- instdiff pin

PAYLOAD = b"weights of a detector\n" * 1000
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def pin_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path == "/files/yolov8m.pt":
                body, ctype = PAYLOAD, "application/octet-stream"
            elif self.path == "/api/models/org/model/revision/main":
                body, ctype = json.dumps({"id": "org/model", "sha": COMMIT}).encode(), "application/json"
            elif self.path == "/api/models/org/broken/revision/main":
                body, ctype = b"{}", "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_pin_writes_the_served_sha256_and_commit_to_a_lock_the_config_accepts(tmp_path, pin_server):
    todo = [preflight.Download("YOLO yolov8m", "models/yolo/yolov8m.pt", f"{pin_server}/files/yolov8m.pt",
                               "models.sha256.yolov8m"),
            preflight.Download("hub snapshot", "hub/org--model", "org/model",
                               "llm.grounding.scorers.owlv2.revision")]
    found = pin_cmd.pin_downloads(todo, endpoint=pin_server)
    assert found["models.sha256.yolov8m"] == {"value": hashlib.sha256(PAYLOAD).hexdigest(),
                                              "source": f"{pin_server}/files/yolov8m.pt", "bytes": len(PAYLOAD)}
    assert found["llm.grounding.scorers.owlv2.revision"]["value"] == COMMIT
    lock = tmp_path / "pins.lock.yaml"
    pin_cmd.write_lock(lock, found, ["config/config.yaml"])
    text = lock.read_text()
    assert "trust on first use" in text and f"{pin_server}/files/yolov8m.pt ({len(PAYLOAD)} bytes)" in text
    assert yaml.safe_load(text)["models"]["sha256"]["yolov8m"] == hashlib.sha256(PAYLOAD).hexdigest()
    # The lock is a config overlay: with it, those two keys are pinned and the others still listed.
    left = set(preflight.missing_pins(preflight.merged_config([PAPER, lock])))
    assert not any(k.startswith(("models.sha256.yolov8m:", "llm.grounding.scorers.owlv2.revision")) for k in left)
    assert len(left) == len(PAPER_UNPINNED) - 2


def test_pin_writes_nothing_that_no_source_establishes(tmp_path, pin_server):
    broken = [preflight.Download("hub snapshot", "hub/org--broken", "org/broken", "experiments.llm.refiner.revision")]
    with pytest.raises(InputError, match="no commit"):
        pin_cmd.pin_downloads(broken, endpoint=pin_server)
    missing = [preflight.Download("YOLO", "models/yolo/x.pt", f"{pin_server}/files/missing.pt", "models.sha256.x")]
    with pytest.raises(OSError):
        pin_cmd.pin_downloads(missing, endpoint=pin_server)


def test_pin_dry_run_lists_the_paper_configs_unpinned_downloads(tmp_path, capsys):
    lock = tmp_path / "lock.yaml"
    assert main(["pin", "--configfile", str(PAPER), "--lock", str(lock), "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["to_pin"]) == PAPER_UNPINNED and not lock.exists()
    assert out["to_pin"]["models.sha256.yolov8m"].startswith("https://github.com/ultralytics/assets/releases/")
