"""`instdiff rate` as a user runs it: serves on loopback, logs the URL, prints one JSON object when stopped."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest
from PIL import Image

from tests.conftest import REPO


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a command it starts with `&`


# Ctrl-C, kill, and Ctrl-C to a server a shell started in the background (SIGINT ignored, which a child inherits).
@pytest.mark.parametrize(("stop", "preexec"), [(signal.SIGINT, None), (signal.SIGTERM, None),
                                               (signal.SIGINT, _ignore_sigint)], ids=["ctrl-c", "kill", "background"])
def test_rate_command_serves_and_reports(tmp_path, stop, preexec):
    images = tmp_path / "imgs"
    images.mkdir()
    for name in ["5.png", "6.png"]:
        Image.new("RGB", (8, 8)).save(images / name)
    out = tmp_path / "r.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "instdiff.cli", "rate", "--images", str(images), "--rater", "r9", "--port", "0",
         "--out", str(out), "--criteria", "overall"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec,
    )
    try:
        url = None
        for line in proc.stderr:
            m = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the command logs the page's URL"
        html = urllib.request.urlopen(url, timeout=10).read().decode()
        token = re.search(r'name="instdiff-token" content="([^"]+)"', html).group(1)
        req = urllib.request.Request(url + "api/answer", data=b'{"index": 1, "criterion": "overall", "score": 2}',
                                     headers={"Content-Type": "application/json", "X-Instdiff-Token": token})
        assert json.loads(urllib.request.urlopen(req, timeout=10).read())["saved"]
    finally:
        proc.send_signal(stop)
        try:
            stdout, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    report = json.loads(stdout)
    assert report["rater"] == "r9" and report["n_items"] == 2 and report["n_done"] == 1
    assert report["out"] == str(out) and out.exists()


def test_rate_command_bad_folder_is_one_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "instdiff.cli", "rate", "--images", str(tmp_path / "none"), "--rater", "r1"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "image folder does not exist" in proc.stderr and "Fix:" in proc.stderr
