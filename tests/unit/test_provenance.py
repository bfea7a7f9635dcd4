import json
import subprocess

import pytest

from instdiff.core.provenance import (REDACTED, assert_no_secrets, build_manifest, config_hash, git_info, scrub,
                                 write_experiment_manifest, write_manifest)

SECRET = "sk-proj-" + "A1b2C3d4" * 6


def _config():
    return {"run": "t", "seed": 7, "data": {"source": "synthetic", "max_images": 3},
            "models": {"source": "tiny"},
            "experiments": {"box": {"kind": "generated", "metrics": []}, "real": {"kind": "real", "seed": 3, "metrics": []}},
            "llm": {"api_key": "my-very-private-key-123", "max_tokens": 512, "tokenizer": "cl100k",
                    "note": f"called with {SECRET}", "headers": {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz"}}}


def test_scrub_removes_keys_values_and_env_secrets():
    env = {"OPENAI_API_KEY": "envsecretvalue-0987654321", "HF_TOKEN": "hf_" + "x" * 30, "HOME": "/root"}
    obj = {"a": "prefix envsecretvalue-0987654321 suffix", "b": ["hf_" + "x" * 30], **_config()}
    out = scrub(obj, env)
    text = json.dumps(out)
    assert "envsecretvalue" not in text and "hf_xxx" not in text and SECRET not in text
    assert "my-very-private-key" not in text and "abcdefghijklmnop" not in text
    assert out["llm"]["api_key"] == REDACTED
    assert out["llm"]["max_tokens"] == 512 and out["llm"]["tokenizer"] == "cl100k"   # not secrets
    assert out["a"] == f"prefix {REDACTED} suffix"


def test_manifest_has_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-environment-secret-abcdef123456")
    path = tmp_path / "manifest.json"
    m = write_manifest(path, _config(), tmp_path)
    text = path.read_text()
    for secret in ("sk-live-environment-secret", "my-very-private-key", SECRET, "abcdefghijklmnop"):
        assert secret not in text
    assert m["seeds"] == {"run": 7, "experiments": {"box": 7, "real": 3}}
    shared = {k: v for k, v in _config().items() if k != "experiments"}
    assert m["n_images"] == 3 and m["config_sha256"] == config_hash(shared)
    assert m["experiments_sha256"] == {"box": config_hash(_config()["experiments"]["box"]),
                                       "real": config_hash(_config()["experiments"]["real"])}
    assert m["packages"]["numpy"] and m["python"]


def test_one_experiments_manifest_shares_the_runs_config_hash_and_machine(tmp_path):
    """A table reads metric files embedding their own experiment's manifest: they agree on the shared hash, and
    carry the run manifest's machine and code, with that experiment's settings only."""
    cfg = _config()
    run = write_manifest(tmp_path / "manifest.json", cfg, tmp_path)
    box = {**cfg, "experiments": {"box": cfg["experiments"]["box"]}}
    one = write_experiment_manifest(tmp_path / "manifest/box.json", tmp_path / "manifest.json", box)
    assert one["config_sha256"] == run["config_sha256"]
    assert one["experiments_sha256"] == {"box": run["experiments_sha256"]["box"]}
    assert one["config"]["experiments"] == {"box": cfg["experiments"]["box"]} and one["seeds"]["experiments"] == {"box": 7}
    assert one["packages"] == run["packages"] and one["git"] == run["git"]
    assert "my-very-private-key" not in (tmp_path / "manifest/box.json").read_text()
    assert build_manifest({**cfg, "seed": 8}, tmp_path)["config_sha256"] != run["config_sha256"]


def test_assert_no_secrets_refuses():
    with pytest.raises(RuntimeError):
        assert_no_secrets({"x": "token sk-abcdefghijklmnopqrstuvwx"}, {})
    with pytest.raises(RuntimeError):
        assert_no_secrets({"x": "longenvvalue99"}, {"MY_SECRET": "longenvvalue99"})


def test_config_hash_is_canonical():
    a = {"b": 1, "a": {"y": [1, 2], "x": "s"}}
    b = {"a": {"x": "s", "y": [1, 2]}, "b": 1}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "b": 2})


def test_git_commit_and_dirty_flag(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert git_info(tmp_path)["commit"] is None
    git("init", "-q")
    (tmp_path / "f.txt").write_text("1")
    git("add", "f.txt")
    git("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "x")
    info = git_info(tmp_path)
    assert len(info["commit"]) == 40 and info["dirty"] is False
    (tmp_path / "f.txt").write_text("2")
    assert git_info(tmp_path)["dirty"] is True


def test_checkpoint_checksums_are_merged(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"name": "yolov8m", "sha256": "ab" * 32}))
    (tmp_path / "b.json").write_text(json.dumps({"clip": "cd" * 32}))
    m = build_manifest(_config(), tmp_path, [tmp_path / "a.json", tmp_path / "b.json"], environ={})
    assert m["checkpoints"] == {"yolov8m": "ab" * 32, "clip": "cd" * 32}
