"""instdiff.data.hub: only pinned commits are fetched; snapshot folders are named and checksummed predictably."""

from __future__ import annotations

import hashlib

import pytest

from instdiff.data import hub
from instdiff.core.errors import InputError


@pytest.mark.parametrize("revision", [None, "main", "v1.0", "abc123"])
def test_an_unpinned_revision_is_refused_before_any_download(tmp_path, revision):
    with pytest.raises(InputError) as err:
        hub.fetch_snapshot("IDEA-Research/grounding-dino-base", revision, tmp_path / "snap", tmp_path / "rec.json",
                           "llm.grounding.scorers.grounding_dino.revision")
    assert "llm.grounding.scorers.grounding_dino.revision" in str(err.value)
    assert not (tmp_path / "snap").exists()


def test_a_full_commit_is_accepted():
    commit = "f3440bb2344cf1fe226857042c5a1ea323a9a0fb"
    assert hub.require_pinned("THUDM/cogvlm-grounding-generalist-hf", commit, "k") == commit


def test_hub_ids_and_local_folders(tmp_path):
    assert hub.is_hub_id("stabilityai/stable-diffusion-xl-refiner-1.0")
    assert not hub.is_hub_id(str(tmp_path))  # an existing folder is loaded as it is
    assert not hub.is_hub_id(None) and not hub.is_hub_id("results/smoke/models/llm/owlv2")
    assert hub.slug("lmsys/vicuna-7b-v1.5") == "lmsys--vicuna-7b-v1.5"


def test_checksums_cover_every_file_but_the_hub_cache(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "model_index.json").write_text("{}")
    (tmp_path / ".cache" / "huggingface").mkdir(parents=True)
    (tmp_path / ".cache" / "huggingface" / "x.lock").write_text("")
    sums = hub.file_checksums(tmp_path)
    assert sums == {"model_index.json": hashlib.sha256(b"{}").hexdigest(),
                    "unet/model.safetensors": hashlib.sha256(b"weights").hexdigest()}


def test_only_full_commits_and_checksums_count_as_pins():
    commit, digest = "f3440bb2344cf1fe226857042c5a1ea323a9a0fb", "a" * 64
    pins = {"llm.grounding.scorers.owlv2.revision": None, "experiments.llm.refiner.revision": "main",
            "llm.grounding.scorers.cogvlm.revision": commit, "llm.clip.sha256": digest, "llm.clip.revision": commit}
    assert hub.unpinned(pins) == ["llm.grounding.scorers.owlv2.revision: None", "experiments.llm.refiner.revision: 'main'"]
    assert hub.unpinned({"llm.clip.sha256": None, "x.revision": digest}) == ["llm.clip.sha256: None", f"x.revision: {digest!r}"]
    msg = hub.unpinned_message(hub.unpinned(pins), "config/config.yaml")
    assert msg.startswith("config/config.yaml:") and "owlv2.revision" in msg and "Nothing was submitted" in msg
