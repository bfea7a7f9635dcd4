"""Precision modes (instdiff.generation.precision, instdiff.model.precision): the float32 islands hold in every mode, the text
encoder and the VAE run in float32 outside autocast, the old dtype setting is refused with what to use instead.

The islands are checked on the dtypes the kernels actually receive: a TorchDispatchMode sits below autocast, so it
sees every aten op after autocast has cast its inputs (a weight cast, a missing upcast or an autocast list that
differs between CPU and CUDA would all show up here).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from instdiff.core.errors import InputError
from instdiff.core.layout import Instance, Layout
from instdiff.model.config import ModelConfig
from instdiff.model.convnext import ChannelsFirstLayerNorm
from instdiff.model.position_net import fourier_embed, null_grounding
from instdiff.model.precision import MODES, Fp32GroupNorm, Fp32LayerNorm, Precision
from instdiff.model.unet import InstanceDiffusionUNet
from instdiff.generation.pipeline import GenerationSettings, InstanceDiffusionPipeline
from instdiff.generation.precision import PRECISIONS, check_precision, generation_precision, removed_dtype_error
from instdiff.generation.sampler import PLMSSchedule

TINY = ModelConfig.tiny()
D = TINY.position_net.in_dim
ISLAND_OPS = ("sin", "cos", "native_layer_norm", "native_group_norm", "pow", "_softmax")
LOW = {"autocast-fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


class OpDtypes(TorchDispatchMode):
    """Records (op name, dtypes of its floating-point tensor inputs) for every aten op, after autocast."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, list[torch.dtype]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        leaves = tree_leaves((args, kwargs or {}))
        self.calls.append((func.overloadpacket.__name__,
                           [t.dtype for t in leaves if isinstance(t, torch.Tensor) and t.is_floating_point()]))
        return func(*args, **(kwargs or {}))

    def dtypes(self, op: str) -> list[list[torch.dtype]]:
        return [d for name, d in self.calls if name == op]


def _tiny_unet(seed: int = 0) -> InstanceDiffusionUNet:
    torch.manual_seed(seed)
    net = InstanceDiffusionUNet(TINY).eval()
    with torch.no_grad():  # open the fuser gates so the fusers' LayerNorms run
        for name, p in net.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                p.fill_(0.5)
    return net


def _grounding() -> dict[str, torch.Tensor]:
    g = null_grounding(1, D)
    g["masks"][0, :2] = 1
    g["boxes"][0, :2] = torch.tensor([0.1, 0.2, 0.6, 0.7])
    g["points"][0, :2] = torch.tensor([0.3, 0.4])
    g["positive_embeddings"][0, :2] = torch.randn(2, D, generator=torch.Generator().manual_seed(1))
    g["scribbles"][0, :2] = 0.5
    g["polygons"][0, :2] = 0.25
    g["segs"][0, 0, 100:300, 50:200] = 1  # the ConvNeXt branch runs
    return g


@pytest.fixture(scope="module")
def tiny_unet():
    return _tiny_unet()


@pytest.mark.parametrize("mode", PRECISIONS)
def test_unet_islands_are_fp32_and_the_rest_runs_in_the_mode(tiny_unet, mode):
    prec = Precision.named(mode)
    unet = _tiny_unet() if prec.unet_dtype != torch.float32 else tiny_unet
    unet = prec.prepare_unet(unet)
    denoiser = InstanceDiffusionPipeline(unet, None, None, None, precision=mode).denoiser()
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(1, 4, 64, 64, generator=g), torch.randn(1, 77, D, generator=g)
    rec = OpDtypes()
    with torch.no_grad(), rec:
        tokens = denoiser.prepare_grounding(_grounding())
        eps = denoiser(x, torch.tensor([981]), ctx, tokens, 1.0)

    for op in ISLAND_OPS:
        for dts in rec.dtypes(op):
            assert all(d == torch.float32 for d in dts), f"{mode}: {op} ran on {dts}"
    # Every island was exercised: Fourier features, LayerNorms (fusers, transformer blocks, ConvNeXt blocks),
    # GroupNorms (resnets) and the ConvNeXt channels-first variance.
    for op in ("sin", "cos", "native_layer_norm", "native_group_norm", "pow"):
        assert rec.dtypes(op), f"{mode}: no {op} call seen"
    # ... and the bulk of the work ran in the mode's dtype: every convolution and matmul.
    heavy = [d for op in ("convolution", "addmm", "mm", "bmm") for d in rec.dtypes(op)]
    assert heavy and all(set(d) == {LOW[mode]} for d in heavy), f"{mode}: {sorted({x for d in heavy for x in d})}"
    assert eps.dtype == (torch.float16 if mode == "autocast-fp16" else torch.float32)


def test_fourier_features_are_fp32_whatever_the_input_dtype():
    x = torch.rand(2, 30, 4)
    ref = fourier_embed(x)
    for dtype in (torch.float16, torch.bfloat16):
        low = x.to(dtype)
        out = fourier_embed(low)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, fourier_embed(low.float()), rtol=0, atol=0)
    with torch.autocast("cpu", dtype=torch.float16):
        assert torch.equal(fourier_embed(x), ref)


def test_convnext_layernorm_variance_does_not_overflow_fp16():
    ln = ChannelsFirstLayerNorm(4)
    x = torch.tensor([1000.0, -1000.0, 500.0, -500.0]).view(1, 4, 1, 1)
    ref = ln(x)
    with torch.autocast("cpu", dtype=torch.float16):  # the original's dtypes: fp16 input, float32 weights
        out = ln(x.half())
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)
    out_bf16 = ln.to(torch.bfloat16)(x.to(torch.bfloat16))  # bf16 weights: statistics fp32, result bf16
    assert out_bf16.dtype == torch.bfloat16 and torch.isfinite(out_bf16.float()).all()


def test_norm_islands_replace_every_plain_norm(tiny_unet):
    kinds = [type(m) for m in tiny_unet.modules() if isinstance(m, (torch.nn.LayerNorm, torch.nn.GroupNorm))]
    assert kinds and set(kinds) <= {Fp32LayerNorm, Fp32GroupNorm}
    assert any("norm" in k for k in tiny_unet.state_dict())  # names unchanged: checkpoints still load


def test_norm_islands_equal_plain_norms_in_fp32():
    x = torch.randn(2, 16, 8, 8)
    gn, ln = torch.nn.GroupNorm(4, 16), torch.nn.LayerNorm(8)
    for plain in (gn, ln):
        torch.nn.init.normal_(plain.weight)
        ref = plain(x)
        plain.__class__ = Fp32GroupNorm if isinstance(plain, torch.nn.GroupNorm) else Fp32LayerNorm
        assert torch.equal(plain(x), ref)
        half = plain.half()(x.half())
        assert half.dtype == torch.float16
        torch.testing.assert_close(half.float(), ref, rtol=0, atol=5e-3)


def test_text_encoder_and_vae_run_fp32_outside_autocast():
    from instdiff.model.convert import build_text_encoder, build_vae
    from instdiff.model.tiny import build_clip_tokenizer

    seen: dict[str, list] = {"text": [], "vae": [], "unet": []}

    def hook(name):
        def record(module, args, out):
            param = next(module.parameters()).dtype
            seen[name].append((param, torch.is_autocast_enabled("cpu")))
        return record

    for mode in PRECISIONS:
        prec = Precision.named(mode)
        torch.manual_seed(0)
        unet = prec.prepare_unet(InstanceDiffusionUNet(TINY).eval())
        pipe = InstanceDiffusionPipeline(unet, build_vae(TINY).eval(), build_text_encoder(TINY).eval(),
                                         build_clip_tokenizer(), precision=mode)
        handles = [pipe.text_encoder.register_forward_hook(hook("text")),
                   pipe.vae.decoder.register_forward_hook(hook("vae")),
                   pipe.unet.unet.register_forward_hook(hook("unet"))]
        for k in seen:
            seen[k].clear()
        lay = Layout(id="p", caption="a red box", instances=[Instance("red box", (0.1, 0.1, 0.6, 0.6))])
        out = pipe(lay, GenerationSettings(steps=2, mis=0.5), seed=0)
        for h in handles:
            h.remove()
        assert seen["text"] and set(seen["text"]) == {(torch.float32, False)}, mode
        assert seen["vae"] and set(seen["vae"]) == {(torch.float32, False)}, mode
        assert set(seen["unet"]) == {(prec.unet_dtype, prec.autocast_dtype is not None)}, mode
        assert out.latents.dtype == torch.float32 and torch.isfinite(out.latents).all(), mode


def test_plms_update_promotes_fp16_eps_like_the_original():
    sched = PLMSSchedule.make(10)
    x = torch.randn(1, 4, 8, 8)
    eps = torch.randn(1, 4, 8, 8).half()
    out = sched.update(x, eps, 3)
    assert out.dtype == torch.float32
    assert torch.equal(out, sched.update(x, eps.float(), 3))


def test_modes_table():
    assert set(MODES) == set(PRECISIONS)
    assert MODES["autocast-fp16"].unet_dtype == torch.float32 and MODES["autocast-fp16"].autocast_dtype == torch.float16
    assert MODES["bf16"].unet_dtype == torch.bfloat16 and MODES["bf16"].autocast_dtype is None
    assert MODES["fp32"].autocast_dtype is None and MODES["fp32"].unet_dtype == torch.float32


# ----------------------------------------------------------------------------------------------- settings


def test_old_dtype_setting_is_refused_with_the_replacement():
    with pytest.raises(InputError) as e:
        generation_precision({"dtype": "fp16"}, "config/config.yaml")
    msg = str(e.value)
    assert "config/config.yaml" in msg and "generation.dtype" in msg and "generation.precision: autocast-fp16" in msg
    with pytest.raises(InputError, match="generation.precision: bf16"):
        generation_precision({"dtype": "bf16", "precision": "bf16"})
    assert generation_precision({}) == "autocast-fp16"
    assert generation_precision({"precision": "fp32"}) == "fp32"
    with pytest.raises(InputError, match="now 'autocast-fp16'"):
        check_precision("fp16")
    assert "--precision fp32" in str(removed_dtype_error("fp32", field="--dtype"))


def test_schema_declares_precision_and_rejects_dtype_naming_the_fix():
    import yaml
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    from tests.conftest import REPO as REPO_ROOT

    cfg = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    assert cfg["generation"]["precision"] == "autocast-fp16"
    schema = REPO_ROOT / "config" / "schema" / "config.schema.yaml"
    prop = yaml.safe_load(schema.read_text())["properties"]["generation"]["properties"]["precision"]
    assert prop["enum"] == list(PRECISIONS) and prop["default"] == "autocast-fp16" and prop["description"]
    cfg["generation"]["dtype"] = "fp16"
    with pytest.raises(WorkflowError, match="use generation.precision"):
        validate(cfg, schema)


def test_cli_refuses_dtype(capsys, tmp_path):
    from instdiff.cli import main

    assert main(["generate", "--layout", "x.json", "--out", str(tmp_path), "--dtype", "fp16"]) == 2
    assert "use --precision autocast-fp16 instead of --dtype" in capsys.readouterr().err


def test_manifest_and_footer_name_the_precision(tmp_path):
    from instdiff.core.provenance import build_manifest, manifest_summary

    m = build_manifest({"run": "r", "seed": 1, "generation": {"precision": "bf16"}}, tmp_path, environ={})
    assert m["precision"] == "bf16"
    assert "precision bf16" in manifest_summary(m)


def test_table_footer_names_the_precision(tmp_path):
    from instdiff.report.tables import make_table
    from tests.conftest import REPO as REPO_ROOT
    from tests.report_helpers import MANIFEST, real_inputs, tiny_encoder, write_attribute

    cfg = {"run": "smoke", "seed": 1, "report": {},
           "experiments": {"colors": {"kind": "generated", "metrics": ["attribute"]}}}
    # Metric files from the real writer, carrying a manifest that names the precision.
    inputs = real_inputs(tmp_path / "in", manifest={**MANIFEST, "precision": "autocast-fp16"})
    encoder = tiny_encoder(tmp_path / "in")
    for variant in ("gt", "detected"):
        write_attribute(tmp_path / "m", inputs, "colors", variant, encoder)
    out = tmp_path / "t4.md"
    make_table("table4", cfg, tmp_path / "m", REPO_ROOT / "config" / "paper_results.yaml", [out])
    text = out.read_text()
    assert "precision autocast-fp16" in text
    assert "Generation precision: autocast-fp16 (fp32 weights under fp16 autocast" in text


def test_autocast_that_torch_would_disable_is_an_error_not_a_silent_fp32_run():
    from instdiff.model.precision import autocast_context

    with autocast_context("cpu", torch.float16):  # the pinned torch autocasts to fp16 on CPU: no fallback needed
        assert torch.nn.functional.linear(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float16
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="cannot autocast"):
        with autocast_context("cpu", torch.float64):  # torch only warns and disables autocast here
            pass
