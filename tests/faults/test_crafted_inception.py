"""Item 3 of issue 24: the Inception weights run no code. A crafted ``.pth`` (a pickle whose ``__reduce__`` writes a
marker file) is refused by the FID reference job's own call, with or without a record that vouches for it, and a
download whose full sha256 is not the pin is not kept."""

from __future__ import annotations

import json

import pytest
import torch

from instdiff.core.errors import InputError
from instdiff.metrics import fid as F

from tests.faults.checks import assert_nothing_half_written
from tests.faults.servers import serve
from tests.report_helpers import write_images


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def _crafted(path, marker):
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(1), "payload": Payload(marker)}, path)
    return path


@pytest.fixture
def real_images(tmp_path):
    return write_images(tmp_path / "real", "real", [1, 2], size=32, seed=0)


def test_a_crafted_pth_vouched_for_by_its_record_runs_nothing(tmp_path, real_images):
    marker = tmp_path / "pwned"
    weights = _crafted(tmp_path / "inception.pth", marker)
    # The attacker also controls the record: it claims random weights with the crafted file's own sha256, so the
    # pin passes and only the weights-only load stands between the file and the interpreter.
    weights.with_suffix(".sha256.json").write_text(json.dumps({"random": True, "sha256": F.file_sha256(weights)}))
    with pytest.raises(InputError) as info:
        F.reference_statistics(real_images, weights, tmp_path / "ref.npz", feature=64, resolution=32, device="cpu")
    assert not marker.exists(), "the weights file's code ran"
    text = str(info.value)
    assert str(weights) in text and "weights-only" in text and "rule inception_weights" in text
    assert not (tmp_path / "ref.npz").exists()
    assert_nothing_half_written(tmp_path)
    # The smoke's random stand-in, written by rule inception_weights, still loads through the same call.
    weights.unlink()
    F.write_random_inception(weights, weights.with_suffix(".sha256.json"), seed=0)
    net = F.load_extractor(weights, feature=64, device="cpu")
    assert net(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)).shape == (1, 64)
    assert all(p.device.type == "cpu" and not p.requires_grad for p in net.parameters())


def test_a_crafted_pth_in_place_of_the_release_file_fails_its_pin_before_loading(tmp_path, real_images):
    marker = tmp_path / "pwned"
    weights = _crafted(tmp_path / F.INCEPTION_URL.rsplit("/", 1)[1], marker)
    weights.with_suffix(".sha256.json").write_text(json.dumps({"random": False, "sha256": F.file_sha256(weights)}))
    with pytest.raises(InputError, match="is not the pinned 6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2") as info:
        F.load_extractor(weights, feature=64, device="cpu")
    assert not marker.exists(), "the weights file's code ran"
    assert str(weights) in str(info.value)


def test_a_download_whose_sha256_is_not_the_pin_is_not_kept(tmp_path):
    body = b"not the release weights"

    def handle(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    dest = tmp_path / "weights-inception.pth"
    record = dest.with_suffix(".sha256.json")
    with serve(handle) as server, pytest.raises(InputError, match="is not the pinned") as info:
        F.download_inception(dest, record, url=server["url"] + "/w.pth", hash_prefix=None)
    assert str(dest) in str(info.value)
    assert not dest.exists() and not record.exists()
    assert_nothing_half_written(tmp_path)
