"""Item 9 of issue 12: a crafted YOLO ``.pt`` cannot run code through ``instdiff.detection.yolo_models.load`` (ultralytics'
safe loading), our own tiny detector still loads, and a release download without a pinned SHA256 is refused
before anything is fetched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from instdiff.core import checkpoints
from instdiff.core.errors import InputError

from tests.conftest import REPO
from tests.faults.checks import assert_nothing_half_written

# Run in a fresh interpreter: ultralytics reads ULTRALYTICS_SAFE_LOAD once, at its first import.
SCRIPT = r"""
import sys, torch
from pathlib import Path
from instdiff.core.errors import InputError
from instdiff.detection.yolo_models import build_tiny, load

marker = Path(sys.argv[1]) / "pwned"

class Payload:
    def __reduce__(self):
        return (exec, (f"open({str(marker)!r}, 'w').write('code ran')",))

crafted = Path(sys.argv[1]) / "yolov8m.pt"
torch.save({"model": Payload(), "train_args": {}}, crafted)
try:
    load(crafted)
except InputError as exc:
    print("REFUSED", exc)
tiny = Path(sys.argv[1]) / "tiny" / "yolov8n.pt"
build_tiny("yolov8n", tiny)
print("TINY", type(load(tiny).model).__name__)
"""


def test_a_crafted_checkpoint_is_refused_and_our_tiny_model_loads(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={"YOLO_CONFIG_DIR": str(tmp_path / "yolo"), "PATH": "/usr/bin:/bin",
                                            "HOME": str(tmp_path), "YOLO_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "pwned").exists(), "the checkpoint's code ran"
    assert "REFUSED" in proc.stdout and "yolov8m.pt" in proc.stdout and "Fix:" in proc.stdout
    assert "TINY DetectionModel" in proc.stdout
    assert_nothing_half_written(tmp_path)


def test_a_release_download_without_a_pin_is_refused_before_fetching(tmp_path):
    from instdiff.detection.yolo_models import download

    with pytest.raises(InputError, match=r"models\.sha256\.yolov8m-seg"):
        download("yolov8m-seg", tmp_path / "yolov8m-seg.pt", expected_sha256=None)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="64 hex"):
        checkpoints.require_pin("", "ViT-L-14_laion2b_s32b_b82k")
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("revision", [None, "main", "v1.0"])
def test_hub_scorers_load_only_at_a_pinned_commit(tmp_path, revision):
    from instdiff.llm.scorers.hf import require_revision

    settings = {"kind": "owlv2", "model": "google/owlv2-large-patch14-ensemble", "revision": revision}
    with pytest.raises(InputError, match=r"owlv2\.revision"):
        require_revision(settings)
    require_revision({**settings, "revision": "0" * 40})
    require_revision({**settings, "model": str(tmp_path)})  # a local folder (the smoke run's tiny models)
