"""The converter on the tiny release-container checkpoint: round trip, key accounting, ema preference, key maps."""

from __future__ import annotations

import pytest
import torch

from instdiff.core.errors import InputError
from instdiff.model import keymap
from instdiff.model.config import ModelConfig
from instdiff.model.convert import build_unet, convert_checkpoint, load_components, read_model_config
from instdiff.model.tiny import tiny_original_checkpoint, write_clip_tokenizer, write_tiny_checkpoint

TINY = ModelConfig.tiny()


@pytest.fixture(scope="module")
def tiny_ckpt():
    return tiny_original_checkpoint(seed=0)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return write_clip_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tokenizer_dir):
    d = tmp_path_factory.mktemp("conv")
    ckpt = write_tiny_checkpoint(d / "tiny.pth", d / "tok", seed=0)
    return convert_checkpoint(ckpt, tokenizer_dir, d / "model", TINY)


def _save(tmp_path, ckpt) -> str:
    p = tmp_path / "ckpt.pth"
    torch.save(ckpt, p)
    return str(p)


def test_round_trip_keeps_every_tensor(converted, tiny_ckpt):
    comps = load_components(converted)
    assert read_model_config(converted) == TINY
    unet_sd = comps["unet"].state_dict()
    assert len(unet_sd) == len(tiny_ckpt["ema"])
    for name, tensor in tiny_ckpt["ema"].items():  # ema wins over model, as in the original's load_model_ckpt
        assert torch.equal(unet_sd[keymap.unet_to_diffusers(name, TINY.unet)], tensor), name
    vae_sd = comps["vae"].state_dict()
    for name, tensor in tiny_ckpt["autoencoder"].items():
        new = keymap.vae_to_diffusers(name, TINY.vae)
        assert torch.equal(vae_sd[new].reshape(tensor.shape), tensor), name
    te_sd = comps["text_encoder"].state_dict()
    for name, tensor in tiny_ckpt["text_encoder"].items():
        if name != keymap.TEXT_POSITION_IDS:
            assert torch.equal(te_sd[keymap.text_to_diffusers(name)], tensor), name
    ids = comps["tokenizer"](["a red car"]).input_ids[0]
    assert ids[0] == 49406 and ids[-1] == 49407 and len(ids) == 5


def test_tiny_model_makes_512px_images(converted):
    comps = load_components(converted)
    unet, vae = comps["unet"], comps["vae"]
    ctx = torch.randn(2, 77, TINY.unet.cross_attention_dim)
    with torch.no_grad():
        eps = unet(torch.randn(2, 4, 64, 64), 981, ctx, None, 1.0)
        img = vae.decode(eps[:1] / vae.config.scaling_factor).sample
    assert eps.shape == (2, 4, 64, 64) and torch.isfinite(eps).all()
    assert img.shape == (1, 3, 512, 512)


def _copy(tiny_ckpt) -> dict:
    return {k: dict(v) if isinstance(v, dict) and k != "config_dict" else v for k, v in tiny_ckpt.items()}


# A UNet key is only missing when both ema and model lack it: a broken ema falls back to model.
SECTIONS = {"unet": ("ema", "model"), "autoencoder": ("autoencoder",), "text_encoder": ("text_encoder",)}


@pytest.mark.parametrize("section", SECTIONS)
def test_missing_key_names_the_key(tmp_path, tokenizer_dir, tiny_ckpt, section):
    ckpt = _copy(tiny_ckpt)
    first = SECTIONS[section][0]
    victim = sorted(k for k in ckpt[first] if k != keymap.TEXT_POSITION_IDS)[3]
    for name in SECTIONS[section]:
        del ckpt[name][victim]
    with pytest.raises(InputError, match="lacks") as err:
        convert_checkpoint(_save(tmp_path, ckpt), tokenizer_dir, tmp_path / "out", TINY)
    assert victim in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("section", SECTIONS)
def test_unexpected_key_names_the_key(tmp_path, tokenizer_dir, tiny_ckpt, section):
    ckpt = _copy(tiny_ckpt)
    for name in SECTIONS[section]:
        ckpt[name]["input_blocks.99.0.extra.weight"] = torch.zeros(2)
    with pytest.raises(InputError, match="unexpected tensor 'input_blocks.99.0.extra.weight'"):
        convert_checkpoint(_save(tmp_path, ckpt), tokenizer_dir, tmp_path / "out", TINY)


def test_wrong_shape_and_missing_section(tmp_path, tokenizer_dir, tiny_ckpt):
    ckpt = _copy(tiny_ckpt)
    ckpt["model"]["scaleu_b_0"] = ckpt["ema"]["scaleu_b_0"] = torch.zeros(7)
    with pytest.raises(InputError, match="scaleu_b_0"):
        convert_checkpoint(_save(tmp_path, ckpt), tokenizer_dir, tmp_path / "out", TINY)
    del ckpt["autoencoder"]
    with pytest.raises(InputError, match="autoencoder"):
        convert_checkpoint(_save(tmp_path, ckpt), tokenizer_dir, tmp_path / "out", TINY)


def test_unet_built_from_given_section(tiny_ckpt):
    """The UNet takes the tensors of the section it is given (ema or model)."""
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in tiny_ckpt["model"].items()}
    unet = build_unet(TINY, ema, path="<mem>", section_name="ema")
    assert torch.equal(unet.scaleu_b_3, ema["scaleu_b_3"])


def test_read_checkpoint_picks_ema(tmp_path, tiny_ckpt):
    from instdiff.model.convert import read_checkpoint

    _, section = read_checkpoint(_save(tmp_path, tiny_ckpt))
    assert section == "ema"
    no_ema = {k: v for k, v in tiny_ckpt.items() if k != "ema"}
    _, section = read_checkpoint(_save(tmp_path, no_ema))
    assert section == "model"


def test_vae_map_agrees_with_diffusers_single_file_converter(tiny_ckpt):
    """Our ldm->diffusers VAE names equal those of diffusers' own single-file converter (an independent map)."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    from instdiff.model.convert import build_vae

    config = dict(build_vae(TINY).config)
    theirs = convert_ldm_vae_checkpoint(dict(tiny_ckpt["autoencoder"]), config)
    ours = {keymap.vae_to_diffusers(k, TINY.vae): v for k, v in tiny_ckpt["autoencoder"].items()}
    assert set(theirs) == set(ours)
    for k in ours:
        assert torch.equal(theirs[k].reshape(ours[k].shape), ours[k]), k


def test_unet_map_is_a_bijection_on_sd15_names():
    """Every SD1.5-size parameter has one original name and maps back to itself."""
    from instdiff.model.unet import InstanceDiffusionUNet

    cfg = ModelConfig.sd15()
    with torch.device("meta"):
        names = list(InstanceDiffusionUNet(cfg).state_dict())
    originals = [keymap.unet_to_original(n, cfg.unet) for n in names]
    assert None not in originals and len(set(originals)) == len(names) == 1199
    assert all(keymap.unet_to_diffusers(o, cfg.unet) == n for o, n in zip(originals, names))
    assert "input_blocks.1.1.transformer_blocks.0.fuser.alpha_attn" in originals
    assert "output_blocks.8.2.conv.weight" in originals and "input_blocks.3.0.op.weight" in originals
