"""One whole image at the paper settings in each precision mode: seconds, peak memory, latent difference vs fp32.

CLI (benchmarks/gpu.sh calls this on the GPU machine; it needs torch, diffusers, transformers, open_clip):

    python benchmarks/bench_precision.py --device cuda [--precisions fp32 autocast-fp16 bf16] [--steps 50]
        [--instances 8] [--location mask] [--mis 0.36] [--alpha 1.0] [--guidance-scale 7.5] [--seed 0]
        [--warmup 1] [--weights init|rule] [--size full|tiny] [--out FILE]

    python benchmarks/bench_precision.py --device cpu --size tiny --steps 4 --instances 2   # checks the script itself

The model is the full SD1.5-size InstanceDiffusion (UNet + UniFusion + ScaleU, SD1.5 VAE and CLIP text encoder) with
random weights, seeded on the CPU so every machine builds the same model: ``--weights init`` (default, seconds) is
PyTorch's initialisation with the fuser gates at 0.5 and ScaleU at N(0, 0.1^2) so every InstanceDiffusion part acts;
``--weights rule`` is the parity fixtures' weight rule (tests/parity/weight_rule.py; a minute or two of CPU). The
layout has ``--instances`` instances with boxes, points, scribbles, polygons and (when pycocotools is importable)
elliptical masks, so the mask branch's ConvNeXt runs. Each mode generates the same image (same seed) through
``InstanceDiffusionPipeline`` (text encoding, PLMS + CFG + alpha + MIS, VAE decode); ``--warmup`` untimed images
first. fp32 runs first as the reference; bf16 runs last (the UNet is cast in place).

Prints ONE JSON object (and writes it to ``--out`` when given):
``{"device", "gpu", "torch", "weights", "settings": {...}, "results": [{"precision", "seconds", "peak_mem_gib",
"max_abs_latent_diff_vs_fp32", "mean_abs_latent_diff_vs_fp32", "finite"}, ...]}``. ``peak_mem_gib`` is
``torch.cuda.max_memory_allocated`` during the timed image (null on CPU). Latent differences are of the final
latents (before decoding), against the fp32 run of the same image; null when fp32 is not among ``--precisions``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instdiff.core.layout import Instance, Layout
from instdiff.generation.pipeline import GenerationSettings, InstanceDiffusionPipeline
from instdiff.generation.precision import PRECISIONS


def build_components(weights: str, seed: int, size: str = "full"):
    """UNet, VAE, text encoder (float32, CPU; full = SD1.5 size) and the CLIP BPE tokenizer."""
    from instdiff.model.config import ModelConfig
    from instdiff.model.convert import build_text_encoder, build_unet, build_vae
    from instdiff.model.tiny import build_clip_tokenizer
    from instdiff.model.unet import InstanceDiffusionUNet

    cfg = ModelConfig.sd15() if size == "full" else ModelConfig.tiny()
    torch.manual_seed(seed)
    if weights == "rule" and size == "full":
        from tests.parity.weight_rule import rule_state_dict

        unet = build_unet(cfg, rule_state_dict(""), path="<weight rule>", section_name="model")
    else:
        unet = InstanceDiffusionUNet(cfg)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # open the gates and make ScaleU act (PyTorch's init leaves both at zero)
            for name, p in unet.named_parameters():
                if name.endswith(("alpha_attn", "alpha_dense")):
                    p.fill_(0.5)
                elif name.startswith("scaleu_"):
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return unet.eval(), build_vae(cfg).eval(), build_text_encoder(cfg).eval(), build_clip_tokenizer()


def _ellipse_rle(box, size: int = 512):
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        return None
    import numpy as np

    x0, y0, x1, y1 = (v * size for v in box)
    yy, xx = np.mgrid[:size, :size]
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1), max((y1 - y0) / 2, 1)
    m = (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1).astype(np.uint8)
    rle = mask_utils.encode(np.asfortranarray(m))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def paper_layout(n: int) -> Layout:
    insts = []
    for i in range(n):
        box = (0.05 + 0.1 * (i % 8), 0.1 + 0.05 * (i // 8), 0.3 + 0.08 * (i % 8), 0.7)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        ring = [(cx + 0.4 * (box[2] - box[0]) * math.cos(a), cy + 0.4 * (box[3] - box[1]) * math.sin(a))
                for a in (2 * math.pi * k / 256 for k in range(256))]
        insts.append(Instance(f"object number {i}", box, point=(cx, cy), scribble=ring[::13][:20], polygon=ring,
                              mask=_ellipse_rle(box)))
    return Layout(id="bench", caption="a scene with " + ", ".join(i.phrase for i in insts), instances=insts)


def run(args) -> dict:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    order = sorted(args.precisions, key=lambda p: ("fp32", "autocast-fp16", "bf16").index(p))
    unet, vae, te, tok = build_components(args.weights, args.seed, args.size)
    unet, vae, te = unet.to(device), vae.to(device), te.to(device)
    lay = paper_layout(args.instances)
    settings = GenerationSettings(location=args.location, steps=args.steps, guidance_scale=args.guidance_scale,
                                  alpha=args.alpha, mis=args.mis)
    results, reference = [], None
    for name in order:
        pipe = InstanceDiffusionPipeline(unet, vae, te, tok, precision=name)
        pipe.unet = pipe.precision.prepare_unet(pipe.unet)  # in place: bf16 runs last
        for i in range(args.warmup):
            pipe(lay, settings, seed=args.seed + 1 + i, output_type="latent")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = pipe(lay, settings, seed=args.seed)  # the whole image: text, sampling, decode
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        latents = out.latents.float().cpu()
        if name == "fp32":
            reference = latents
        diff = None if reference is None else (latents - reference).abs()
        results.append({
            "precision": name,
            "seconds": round(seconds, 3),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
            "max_abs_latent_diff_vs_fp32": None if diff is None else float(diff.max()),
            "mean_abs_latent_diff_vs_fp32": None if diff is None else float(diff.mean()),
            "finite": bool(torch.isfinite(latents).all()),
        })
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # progress, in case a later mode fails
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "torch": torch.__version__,
        "weights": args.weights,
        "size": args.size,
        "settings": {**settings.to_dict(), "instances": args.instances, "seed": args.seed, "warmup": args.warmup,
                     "masks": lay.instances[0].mask is not None if lay.instances else False},
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--location", default="mask", choices=["box", "mask", "point", "scribble"])
    ap.add_argument("--mis", type=float, default=0.36)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--guidance-scale", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--weights", choices=["init", "rule"], default="init")
    ap.add_argument("--size", choices=["full", "tiny"], default="full", help="tiny: the smoke model, to check the script")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    result = run(args)
    text = json.dumps(result)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
