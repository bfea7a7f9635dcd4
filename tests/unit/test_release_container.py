"""The released checkpoint's container (reference §2.1): its parameter layout against the reference key list, a
release-container stand-in built here (OmegaConf ``config_dict``, AdamW ``opt``, LambdaLR ``scheduler``,
``diffusion`` buffers, transformers-4.27 text names) through the converter, ``ema`` over ``model``, and the three
kinds of bad file (damaged, unknown container, wrong architecture), each with one error that names the file and
leaves nothing behind. Also the smoke's tiny checkpoint: it must be that same container."""

from __future__ import annotations

import logging
import math
import pathlib
from collections import OrderedDict

import numpy as np
import pytest
import torch

from instdiff.core.errors import InputError
from instdiff.model import keymap
from instdiff.model.config import ModelConfig
from instdiff.model.convert import conversion_record, convert_checkpoint, load_unet
from instdiff.model.original_layout import (
    DIFFUSION_BUFFERS,
    autoencoder_layout,
    is_trainable,
    text_encoder_layout,
    unet_layout,
)
from instdiff.model.tiny import tiny_original_checkpoint, write_clip_tokenizer
from tests.conftest import REPO

TINY = ModelConfig.tiny()
KEYS_TSV = REPO / "tests" / "data" / "instdiff-ckpt-keys.tsv"  # copy of shared/reference/instdiff-ckpt-keys.tsv

# configs/train_sd15.yaml of the original, at the tiny model's sizes (model_channels 4, channel_mult [1,2,4,4],
# 1 res block per level, attention only at ds 4, 2 heads, context 32; VAE ch 4, ch_mult [1,1,2,2], 1 res block per level).
TINY_YAML = """\
diffusion:
  target: ldm.models.diffusion.ldm.LatentDiffusion
  params: {linear_start: 0.00085, linear_end: 0.012, timesteps: 1000}
model:
  target: ldm.modules.diffusionmodules.openaimodel.UNetModel
  params:
    image_size: 64
    in_channels: 4
    out_channels: 4
    model_channels: 4
    attention_resolutions: [4]
    num_res_blocks: 1
    channel_mult: [1, 2, 4, 4]
    num_heads: 2
    transformer_depth: 1
    context_dim: 32
    fuser_type: gatedSA
    use_checkpoint: True
    sd_v1_5: True
    efficient_attention: True
    grounding_tokenizer:
      target: ldm.modules.diffusionmodules.text_grounding_net.UniFusion
      params: {in_dim: 32, out_dim: 32, mid_dim: 32, train_add_boxes: True, train_add_points: True,
               train_add_scribbles: True, train_add_masks: True, test_drop_boxes: False, test_drop_points: False,
               test_drop_scribbles: True, test_drop_masks: False, use_seperate_tokenizer: True}
autoencoder:
  target: ldm.models.autoencoder.AutoencoderKL
  params:
    scale_factor: 0.18215
    embed_dim: 4
    ddconfig: {double_z: true, z_channels: 4, resolution: 256, in_channels: 3, out_ch: 3, ch: 4,
               ch_mult: [1, 1, 2, 2], num_res_blocks: 1, attn_resolutions: [], dropout: 0.0}
text_encoder:
  target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
grounding_tokenizer_input:
  target: grounding_input.text_grounding_tokinzer_input.GroundingNetInput
"""


# ---------------------------------------------------------------------------------------------- the stand-in
def _config_dict(yaml_text: str) -> dict:
    """As main_submitit.py + utils/misc.py save_config: OmegaConf.load, update with the args, vars()."""
    from omegaconf import OmegaConf

    conf = OmegaConf.create(yaml_text)
    conf.update({"yaml_file": "configs/train_sd15.yaml", "enable_ema": True, "ckpt": None, "base_learning_rate": 5e-5,
                 "warmup_steps": 10000, "scheduler_type": "constant", "fp32": False, "output_dir": "OUTPUT/123"})
    return vars(conf)


def _ldm_schedule() -> dict[str, torch.Tensor]:
    """ldm register_schedule for the yaml's linear schedule, in numpy float64 as ldm computes it."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    prev = np.append(1.0, ac[:-1])
    var = betas * (1.0 - prev) / (1.0 - ac)
    vals = [betas, ac, prev, np.sqrt(ac), np.sqrt(1 - ac), np.log(1 - ac), np.sqrt(1 / ac), np.sqrt(1 / ac - 1), var,
            np.log(np.maximum(var, 1e-20)), betas * np.sqrt(prev) / (1 - ac), (1 - prev) * np.sqrt(alphas) / (1 - ac)]
    return OrderedDict((n, torch.tensor(v, dtype=torch.float32)) for n, v in zip(DIFFUSION_BUFFERS, vals))


def _fill(layout, gen) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((k, torch.randn(s, generator=gen) / math.sqrt(max(1, math.prod(s[1:]))))
                       for k, s in layout.items())


def build_release_stand_in(cfg: ModelConfig = TINY, yaml_text: str = TINY_YAML) -> dict:
    gen = torch.Generator().manual_seed(7)
    model = _fill(unet_layout(cfg), gen)
    ema = OrderedDict((k, v + 1.0 if is_trainable(k) else v.clone()) for k, v in model.items())
    text = _fill({k: s for k, s in text_encoder_layout(cfg).items() if not k.endswith("position_ids")}, gen)
    text["transformer.text_model.embeddings.position_ids"] = torch.arange(77).expand((1, -1))
    params = [torch.nn.Parameter(v.clone()) for k, v in model.items() if is_trainable(k)]
    opt = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, step / 10000))
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    scheduler.step()
    return {"model": model, "text_encoder": text, "autoencoder": _fill(autoencoder_layout(cfg), gen),
            "opt": opt.state_dict(), "scheduler": scheduler.state_dict(), "iters": 120000,
            "config_dict": _config_dict(yaml_text), "diffusion": _ldm_schedule(), "ema": ema}


@pytest.fixture(scope="module")
def release():
    return build_release_stand_in()


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return write_clip_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")


def _save(tmp_path, ckpt, name="instancediffusion_sd15.pth") -> pathlib.Path:
    path = tmp_path / name
    torch.save(ckpt, path)
    return path


def _assert_nothing_written(out: pathlib.Path) -> None:
    from instdiff.core.io import is_temp

    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if is_temp(p)], "temporary folder left"


# ---------------------------------------------------------------------------------------------- layout
def _reference_keys() -> list[tuple[str, tuple[int, ...]]]:
    rows = [line.split("\t") for line in KEYS_TSV.read_text().splitlines()[1:]]
    return [(name, tuple(int(x) for x in shape.strip("[]").split(",") if x.strip())) for name, shape in rows]


def test_sd15_layout_is_the_reference_key_list():
    """The InstanceDiffusion additions equal the reference's 513 keys (order and shapes); the trunk is SD1.5's
    686 keys / 859,520,964 parameters; the VAE and the CLIP-L text tower have their known sizes."""
    cfg = ModelConfig.sd15()
    layout = unet_layout(cfg)
    new = [(k, s) for k, s in layout.items() if is_trainable(k)]
    trunk = [s for k, s in layout.items() if not is_trainable(k)]
    assert new == _reference_keys()
    assert len(trunk) == 686 and sum(math.prod(s) for s in trunk) == 859_520_964
    vae = autoencoder_layout(cfg)
    assert len(vae) == 248 and sum(math.prod(s) for s in vae.values()) == 83_653_863
    text = text_encoder_layout(cfg)
    assert text[keymap.TEXT_POSITION_IDS] == (1, 77)
    assert sum(math.prod(s) for k, s in text.items() if k != keymap.TEXT_POSITION_IDS) == 123_060_480
    assert all(k.startswith("transformer.text_model.") for k in text)


def test_release_config_dict_passes_the_sd15_architecture_check():
    """configs/train_sd15.yaml as released (reference §3) is the sd15 model for every architecture key; the same
    config_dict read for the tiny size is refused at the first key."""
    from instdiff.model.release_container import ARCHITECTURE_KEYS, check_architecture, config_content

    sd15_yaml = (TINY_YAML.replace("model_channels: 4", "model_channels: 320")
                 .replace("    num_res_blocks: 1\n", "    num_res_blocks: 2\n")
                 .replace("attention_resolutions: [4]", "attention_resolutions: [ 4, 2, 1 ]")
                 .replace("num_heads: 2", "num_heads: 8").replace("context_dim: 32", "context_dim: 768")
                 .replace("in_dim: 32, out_dim: 32, mid_dim: 32", "in_dim: 768, out_dim: 768, mid_dim: 3072")
                 .replace("ch: 4,", "ch: 128,").replace("ch_mult: [1, 1, 2, 2], num_res_blocks: 1",
                                                       "ch_mult: [1, 2, 4, 4], num_res_blocks: 2"))
    content = config_content({"config_dict": _config_dict(sd15_yaml)}, "release.pth")
    assert content["model"]["params"]["model_channels"] == 320 and content["enable_ema"] is True
    assert check_architecture(content, ModelConfig.sd15(), "release.pth", "sd15") == list(ARCHITECTURE_KEYS)
    with pytest.raises(InputError, match="model_channels = 320"):
        check_architecture(content, TINY, "release.pth", "tiny")


def _qualified(obj) -> str:
    return f"{obj.__module__}.{getattr(obj, '__qualname__', None) or obj._name}"


def test_allow_list_is_exactly_what_the_container_pickles(tmp_path, release):
    """The safe globals are the non-tensor classes of the container's pickle, no more: nothing is allowed that the
    release does not need."""
    from instdiff.model.release_container import safe_globals

    path = _save(tmp_path, release)
    needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    assert needed == {_qualified(g) for g in safe_globals()}


# ---------------------------------------------------------------------------------------------- conversion
def test_release_stand_in_converts_from_ema(tmp_path, tokenizer_dir, release):
    ckpt_path = _save(tmp_path, release)
    out = convert_checkpoint(ckpt_path, tokenizer_dir, tmp_path / "model", TINY)
    record = conversion_record(out)
    assert record["unet_section"] == "ema"
    assert record["text_encoder_naming"] == "transformers-4.27" and record["iters"] == 120000
    assert "model.params.model_channels" in record["config_dict_checked"]
    assert {"opt", "scheduler", "diffusion", "config_dict"} <= set(record["sections"])
    unet = load_unet(out).state_dict()
    for name in ("scaleu_b_3", "position_net.null_seg_feature",
                 "input_blocks.5.1.transformer_blocks.0.fuser.linear.weight"):  # level 2, 1 res block per level
        ours = unet[keymap.unet_to_diffusers(name, TINY.unet)]
        assert torch.equal(ours, release["ema"][name]) and not torch.equal(ours, release["model"][name]), name
    frozen = "input_blocks.1.0.in_layers.2.weight"
    assert torch.equal(unet[keymap.unet_to_diffusers(frozen, TINY.unet)], release["model"][frozen])


def test_model_section_used_with_a_warning_when_ema_is_absent_or_broken(tmp_path, tokenizer_dir, release, caplog):
    no_ema = {k: v for k, v in release.items() if k != "ema"}
    broken = dict(release, ema=OrderedDict(list(release["ema"].items())[1:]))  # ema lacks scaleu_b_0
    for i, ckpt in enumerate([no_ema, broken]):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="instdiff.model.convert"):
            out = convert_checkpoint(_save(tmp_path, ckpt), tokenizer_dir, tmp_path / f"model{i}", TINY)
        assert conversion_record(out)["unet_section"] == "model"
        assert any("non-EMA" in r.getMessage() for r in caplog.records)
        name = "scaleu_b_0"
        assert torch.equal(load_unet(out).state_dict()[name], release["model"][name])


def test_transformers5_text_names_are_read_and_mixed_names_refused(tmp_path, tokenizer_dir, release):
    v5 = {k.replace("transformer.text_model.", "transformer."): v for k, v in release["text_encoder"].items()
          if not k.endswith("position_ids")}
    out = convert_checkpoint(_save(tmp_path, dict(release, text_encoder=v5)), tokenizer_dir, tmp_path / "m5", TINY)
    assert conversion_record(out)["text_encoder_naming"] == "transformers-5"
    mixed = dict(release["text_encoder"], **{"transformer.final_layer_norm.weight": torch.ones(32)})
    with pytest.raises(InputError, match="both name the parameter 'final_layer_norm.weight'"):
        convert_checkpoint(_save(tmp_path, dict(release, text_encoder=mixed)), tokenizer_dir, tmp_path / "mx", TINY)
    _assert_nothing_written(tmp_path / "mx")


# ---------------------------------------------------------------------------------------------- bad containers
def test_truncated_file_is_a_damaged_file(tmp_path, tokenizer_dir, release):
    path = _save(tmp_path, release)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="damaged file") as err:
        convert_checkpoint(path, tokenizer_dir, tmp_path / "out", TINY)
    assert str(path) in str(err.value) and "download it again" in str(err.value)
    _assert_nothing_written(tmp_path / "out")


def test_checksum_mismatch_is_a_damaged_file(tmp_path, tokenizer_dir, release):
    path = _save(tmp_path, release)
    with pytest.raises(InputError, match="damaged file: SHA256") as err:
        convert_checkpoint(path, tokenizer_dir, tmp_path / "out", TINY, expected_sha256="0" * 64)
    assert str(path) in str(err.value)
    _assert_nothing_written(tmp_path / "out")


def _touch(path) -> None:
    pathlib.Path(path).touch()


class _Payload:
    """A pickled object whose unpickling would call ``_touch`` and create a file: it must never be built."""

    marker: pathlib.Path

    def __reduce__(self):
        return (_touch, (str(self.marker),))


def test_unknown_class_in_the_pickle_is_refused_without_running_it(tmp_path, tokenizer_dir, release):
    payload = _Payload()
    payload.marker = tmp_path / "code-ran"
    path = _save(tmp_path, dict(release, scheduler=dict(release["scheduler"], extra=payload)))
    with pytest.raises(InputError, match=r"unknown container: the pickle names [\w.]*_touch") as err:
        convert_checkpoint(path, tokenizer_dir, tmp_path / "out", TINY)
    assert str(path) in str(err.value)
    assert not payload.marker.exists()
    _assert_nothing_written(tmp_path / "out")


def test_not_a_torch_archive_is_an_unknown_container(tmp_path, tokenizer_dir):
    path = tmp_path / "instancediffusion_sd15.pth"
    path.write_bytes(b"<html>rate limited</html>" * 10)
    with pytest.raises(InputError, match="unknown container: not a torch.save zip archive"):
        convert_checkpoint(path, tokenizer_dir, tmp_path / "out", TINY)
    _assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize("key,old,new", [
    ("model/params/model_channels", "model_channels: 4", "model_channels: 320"),
    ("model/params/grounding_tokenizer/params/mid_dim", "mid_dim: 32", "mid_dim: 3072"),
    ("autoencoder/params/ddconfig/ch_mult", "ch_mult: [1, 1, 2, 2]", "ch_mult: [1, 2, 4, 4]"),
])
def test_config_dict_architecture_mismatch_names_the_key(tmp_path, tokenizer_dir, release, key, old, new):
    assert old in TINY_YAML
    ckpt = dict(release, config_dict=_config_dict(TINY_YAML.replace(old, new)))
    path = _save(tmp_path, ckpt)
    with pytest.raises(InputError, match="another architecture") as err:
        convert_checkpoint(path, tokenizer_dir, tmp_path / "out", TINY)
    assert err.value.field == f"config_dict/{key}" and str(path) in str(err.value)
    _assert_nothing_written(tmp_path / "out")


def test_diffusion_buffers_are_checked(tmp_path, tokenizer_dir, release):
    wrong = dict(release["diffusion"], betas=release["diffusion"]["betas"] * 2)
    with pytest.raises(InputError, match="diffusion/betas"):
        convert_checkpoint(_save(tmp_path, dict(release, diffusion=wrong)), tokenizer_dir, tmp_path / "o", TINY)
    missing = {k: v for k, v in release["diffusion"].items() if k != "posterior_mean_coef2"}
    with pytest.raises(InputError, match="posterior_mean_coef2"):
        convert_checkpoint(_save(tmp_path, dict(release, diffusion=missing)), tokenizer_dir, tmp_path / "o", TINY)
    _assert_nothing_written(tmp_path / "o")


# ---------------------------------------------------------------------------------------------- the smoke's file
def test_tiny_checkpoint_is_the_release_container(tmp_path):
    """Same sections and types as the stand-in above; config_dict is the OmegaConf pickle (a plain weights-only
    load refuses it, as it refuses the release); model and ema differ exactly on the trained parameters."""
    from omegaconf import DictConfig
    from omegaconf.nodes import AnyNode

    ckpt = tiny_original_checkpoint(seed=0)
    assert set(ckpt) == set(build_release_stand_in_keys())
    path = _save(tmp_path, ckpt, "tiny.pth")
    with pytest.raises(Exception, match="omegaconf"):
        torch.load(path, weights_only=True)
    cd = ckpt["config_dict"]
    assert type(cd) is dict and set(cd) == {"_metadata", "_parent", "_flags_cache", "_content"}
    assert isinstance(cd["_content"]["model"], DictConfig) and isinstance(cd["_content"]["enable_ema"], AnyNode)
    assert cd["_content"]["model"]["params"]["model_channels"] == TINY.unet.block_out_channels[0]
    differ = {k for k in ckpt["model"] if not torch.equal(ckpt["model"][k], ckpt["ema"][k])}
    assert differ == {k for k in ckpt["model"] if is_trainable(k)} and differ
    assert list(ckpt["model"]) == list(unet_layout(TINY))
    assert all(k.startswith("transformer.text_model.") for k in ckpt["text_encoder"])
    assert ckpt["text_encoder"][keymap.TEXT_POSITION_IDS].tolist() == [list(range(77))]
    assert "encoder.mid.attn_1.q.weight" in ckpt["autoencoder"] and "decoder.up.3.upsample.conv.weight" in ckpt["autoencoder"]
    assert list(ckpt["diffusion"]) == list(DIFFUSION_BUFFERS)
    for name, ref in _ldm_schedule().items():
        got = ckpt["diffusion"][name]
        assert got.dtype == torch.float32 and got.shape == (1000,)
        assert torch.allclose(got, ref, rtol=1e-5, atol=1e-7), name
    n_trained = sum(1 for k in ckpt["model"] if is_trainable(k))
    assert len(ckpt["opt"]["state"]) == n_trained and ckpt["opt"]["param_groups"][0]["params"] == list(range(n_trained))
    assert ckpt["scheduler"]["lr_lambdas"] == [None] and isinstance(ckpt["iters"], int)
    assert hasattr(ckpt["model"], "_metadata")


def build_release_stand_in_keys() -> tuple[str, ...]:
    return ("model", "ema", "text_encoder", "autoencoder", "diffusion", "opt", "scheduler", "iters", "config_dict")
