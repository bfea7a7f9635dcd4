"""The LLM extension's CLIP weights: fetched by a localrule at a pinned commit and sha256 into resources/, loaded by
the compute job from that local file with the hub offline; the smoke's tiny model goes through the same loader.

Facts the stand-ins follow: open_clip 3.3 names ``timm/vit_base_patch32_clip_224.openai/`` as the hub entry of
``ViT-B-32-quickgelu``/``openai`` and asks it for ``open_clip_model.safetensors`` first; commit ab5b8ef of that repo
added the file (with ``open_clip_config.json``: quick_gelu true, OpenAI mean/std, bicubic, shortest-side resize).
The hub cache layout is huggingface_hub's: ``models--org--name/snapshots/<commit>/<file>``.
"""

from __future__ import annotations

import socket

import pytest
import torch

from instdiff.core import checkpoints
from instdiff.metrics import clip_models
from instdiff.core.errors import InputError
from instdiff.metrics.clipscore import clip_scores, load_clip
from tests.conftest import REPO

REPO_ID = "timm/vit_base_patch32_clip_224.openai"
COMMIT = "ab5b8ef490e86faa07d3523926b842c765de1de5"
ARCH, TAG = "ViT-B-32-quickgelu", "openai"
OPENAI_PREPROCESS = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                     "interpolation": "bicubic", "resize_mode": "shortest"}


@pytest.fixture()
def no_network(monkeypatch):
    """The hub offline and any socket connection an error: what a compute node without internet does."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access from a compute job: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def hub_cache_with(tmp_path, payload_path) -> str:
    """A hub cache holding ``payload_path`` as open_clip_model.safetensors of the pinned commit."""
    snap = tmp_path / "hub" / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap / clip_models.HUB_WEIGHTS_FILE).write_bytes(payload_path.read_bytes())
    return str(tmp_path / "hub")


def tiny_safetensors(tmp_path):
    """A state dict in the published file's format (the tiny architecture stands in for ViT-B/32's shapes)."""
    path = tmp_path / "published" / "open_clip_model.safetensors"
    clip_models.build_tiny(path, seed=3)
    return path


def test_the_openai_weights_need_the_quickgelu_architecture():
    """Given a file, open_clip builds plain ViT-B-32 with GELU and never compares it with the tag: refused."""
    with pytest.raises(InputError) as err:
        clip_models.hub_source("ViT-B-32", TAG, "llm.clip.arch")
    assert "ViT-B-32-quickgelu" in str(err.value) and "llm.clip.arch" in str(err.value)
    cfg, repo = clip_models.hub_source(ARCH, TAG, "llm.clip.arch")
    assert repo == REPO_ID and cfg["quick_gelu"] is True
    assert clip_models.release_preprocess(ARCH, TAG, "k") == OPENAI_PREPROCESS


def test_pinned_download_keeps_the_published_bytes_and_records_the_source(tmp_path, no_network):
    published = tiny_safetensors(tmp_path)
    pin = checkpoints.sha256(published)
    dest = tmp_path / "resources" / "models" / "llm_clip" / f"{ARCH}_{TAG}.safetensors"
    record = clip_models.download_pinned(ARCH, TAG, dest, COMMIT, pin, "llm.clip",
                                         hub_cache=hub_cache_with(tmp_path, published))
    assert dest.read_bytes() == published.read_bytes()
    assert record["revision"] == COMMIT and record["source"] == REPO_ID and record["sha256"] == pin
    assert record["source_file"] == "open_clip_model.safetensors" and record["preprocess"] == OPENAI_PREPROCESS
    assert checkpoints.read_record(dest)["arch"] == ARCH


def test_a_wrong_checksum_is_one_error_naming_the_file(tmp_path, no_network):
    published = tiny_safetensors(tmp_path)
    dest = tmp_path / "resources" / "clip.safetensors"
    with pytest.raises(InputError) as err:
        clip_models.download_pinned(ARCH, TAG, dest, COMMIT, "0" * 64, "llm.clip",
                                    hub_cache=hub_cache_with(tmp_path, published))
    msg = str(err.value)
    assert str(dest) in msg and f"{REPO_ID}@{COMMIT}/open_clip_model.safetensors" in msg
    assert checkpoints.sha256(published) in msg and "0" * 64 in msg
    assert not dest.exists() and not list(dest.parent.glob("*")), "nothing is written on a mismatch"


@pytest.mark.parametrize(("revision", "sha256", "key"), [
    (None, "a" * 64, "llm.clip.revision"),
    ("main", "a" * 64, "llm.clip.revision"),
    (COMMIT, None, "llm.clip.sha256"),
])
def test_nothing_is_fetched_before_the_source_is_pinned(tmp_path, no_network, revision, sha256, key):
    with pytest.raises(InputError) as err:
        clip_models.download_pinned(ARCH, TAG, tmp_path / "w.safetensors", revision, sha256, "llm.clip",
                                    hub_cache=tmp_path / "empty")
    assert key in str(err.value)
    assert not (tmp_path / "empty").exists()


def test_the_job_loads_the_local_file_with_the_hub_offline(tmp_path, no_network):
    """The smoke's stand-in (rule llm_tiny_clip) and the download share the format and the loader."""
    weights = tmp_path / "models" / "llm" / "clip" / "tiny-clip.safetensors"
    clip_models.build_tiny(weights, seed=0, preprocess=clip_models.release_preprocess(ARCH, TAG, "k"))
    model, preprocess, tokenizer = load_clip({"arch": ARCH, "pretrained": TAG, "weights": str(weights)})
    expected = open_clip_state(weights)
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in expected.items()), "the file's weights are the model's"
    normalize = preprocess.transforms[-1]
    assert list(normalize.mean) == OPENAI_PREPROCESS["mean"] and list(normalize.std) == OPENAI_PREPROCESS["std"]
    from PIL import Image

    scores = clip_scores([Image.new("RGB", (40, 30), (10, 200, 30))], ["a green field"], model, preprocess, tokenizer)
    assert scores.shape == (1,)


def open_clip_state(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_a_tag_without_a_local_file_is_refused_before_open_clip_runs(no_network):
    """A tag would make open_clip download inside the job; the loader wants the file the localrule wrote."""
    with pytest.raises(InputError, match="weights"):
        load_clip({"arch": ARCH, "pretrained": TAG})


def test_the_clip_download_is_a_localrule_and_the_job_goes_offline():
    rules = (REPO / "rules" / "llm.smk").read_text()
    else_branch = rules[rules.index('if LLM_CLIP.get("tiny"):'):rules.index("rule llm_grounding:")]
    assert "localrules:\n        llm_clip_download," in else_branch
    assert "protected(LLM_CLIP_RELEASE)" in else_branch
    for script in ("llm_clip", "llm_grounding"):
        job = (REPO / "scripts" / f"{script}.py").read_text()
        first_import = min(job.index(line) for line in job.splitlines() if line.startswith("from instdiff.")
                           and "import go_offline" not in line)
        assert job.index("go_offline()") < first_import, script


def test_go_offline_keeps_huggingface_hub_off_the_network(monkeypatch):
    """huggingface_hub reads HF_HUB_OFFLINE when it is imported: in a fresh process after go_offline() it is on."""
    import subprocess
    import sys

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    code = ("from instdiff.data.hub import go_offline; go_offline(); import huggingface_hub.constants as c; "
            "print(c.HF_HUB_OFFLINE)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
