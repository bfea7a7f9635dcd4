"""``instdiff tiny-checkpoint`` and ``instdiff convert``: one JSON object each on stdout; errors exit 2 naming the file."""

from __future__ import annotations

import json

import pytest

from instdiff.cli import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``instdiff tiny-checkpoint`` once: (checkpoint, tokenizer folder, its JSON)."""
    import contextlib
    import io

    d = tmp_path_factory.mktemp("tiny")
    ckpt, tok = d / "tiny.pth", d / "tokenizer"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["tiny-checkpoint", "--out", str(ckpt), "--tokenizer", str(tok)]) == 0
    return ckpt, tok, json.loads(stdout.getvalue())


def test_tiny_checkpoint_then_convert(tiny, tmp_path, capsys):
    ckpt, tok, written = tiny
    out = tmp_path / "model"
    assert written["checkpoint"] == str(ckpt) and len(written["sha256"]) == 64
    assert set(written["sections"]) == {"model", "ema", "text_encoder", "autoencoder", "diffusion", "opt",
                                        "scheduler", "iters", "config_dict"}
    assert (tok / "tokenizer_config.json").exists()

    assert main(["convert", "--checkpoint", str(ckpt), "--tokenizer", str(tok), "--out", str(out), "--size", "tiny",
                 "--sha256", written["sha256"]]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["out"] == str(out) and record["unet_section"] == "ema" and record["size"] == "tiny"
    assert record["text_encoder_naming"] == "transformers-4.27" and record["source_sha256"] == written["sha256"]
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").exists()


def test_convert_error_exits_2_and_writes_nothing(tiny, tmp_path, capsys):
    ckpt, tok, _ = tiny
    out = tmp_path / "model"
    # The tiny checkpoint converted as the release: its config_dict names the first disagreeing key.
    assert main(["convert", "--checkpoint", str(ckpt), "--tokenizer", str(tok), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(ckpt) in captured.err and "config_dict/model/params/model_channels" in captured.err
    assert not out.exists()
