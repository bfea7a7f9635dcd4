"""Time per image of InstanceDiffusionPipeline, split into UNet time and everything else.

CPU, tiny model (the smoke model, converted from its original-format checkpoint):
    python benchmarks/bench_generate.py --size tiny --device cpu --steps 10 --instances 2 --images 2
GPU, full-size model with random weights at the paper settings (bf16, batched), and the sequential fp32 baseline
that mimics the original (one UNet call per chain and guidance pass):
    python benchmarks/bench_generate.py --size full --device cuda --precision bf16 --images 5
    python benchmarks/bench_generate.py --size full --device cuda --precision fp32 --sequential --images 2
(precision modes: instdiff.precision; benchmarks/bench_precision.py compares them on one image)
Prints one JSON line: seconds per image, UNet seconds per image, the non-UNet overhead fraction, UNet calls and rows
per image and (CUDA) peak memory. Speed goals live here, not in tests (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instdiff.layout import Instance, Layout  # noqa: E402
from instdiff.pipeline import GenerationSettings, InstanceDiffusionPipeline  # noqa: E402
from instdiff.precision import PRECISIONS  # noqa: E402


class TimedUNet(torch.nn.Module):
    """Wraps the UNet and accumulates its wall time (synchronising CUDA around each call)."""

    def __init__(self, unet):
        super().__init__()
        self.inner = unet
        self.seconds = 0.0
        self.calls = 0
        self.rows = 0

    def set_location(self, location):
        self.inner.set_location(location)

    def forward(self, sample, *args, **kwargs):
        sync = sample.is_cuda
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = self.inner(sample, *args, **kwargs)
        if sync:
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        self.rows += sample.shape[0]
        return out


def tiny_components(tmp: Path) -> Path:
    from instdiff.model.config import ModelConfig
    from instdiff.model.convert import convert_checkpoint
    from instdiff.model.tiny import write_tiny_checkpoint

    write_tiny_checkpoint(tmp / "ckpt.pth", tmp / "tokenizer")
    return convert_checkpoint(tmp / "ckpt.pth", tmp / "tokenizer", tmp / "model", config=ModelConfig.tiny())


def full_random_pipeline(precision: str, device: str) -> InstanceDiffusionPipeline:
    """SD1.5-size InstanceDiffusion with random weights (no checkpoint needed) and a byte-level CLIP tokenizer."""
    from instdiff.model.config import ModelConfig
    from instdiff.model.convert import build_text_encoder, build_vae
    from instdiff.model.tiny import build_clip_tokenizer
    from instdiff.model.unet import InstanceDiffusionUNet

    cfg = ModelConfig.sd15()
    pipe = InstanceDiffusionPipeline(InstanceDiffusionUNet(cfg).to(device).eval(), build_vae(cfg).to(device).eval(),
                                     build_text_encoder(cfg).to(device).eval(), build_clip_tokenizer(), precision=precision)
    pipe.unet = pipe.precision.prepare_unet(pipe.unet)  # the VAE and the text encoder stay float32
    return pipe


def layout(n: int) -> Layout:
    insts = [Instance(f"object number {i}", (0.05 + 0.1 * (i % 8), 0.1 + 0.05 * (i // 8), 0.3 + 0.08 * (i % 8), 0.7))
             for i in range(n)]
    return Layout(id="bench", caption="a scene with " + ", ".join(i.phrase for i in insts), instances=insts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--model", default=None, help="a converted model folder instead of --size")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--guidance-scale", type=float, default=7.5)
    ap.add_argument("--mis", type=float, default=0.36)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--location", default="mask")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--sequential", action="store_true", help="the original's call order (no batching)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    if args.model or args.size == "tiny":
        folder = Path(args.model) if args.model else tiny_components(Path(tempfile.mkdtemp(prefix="bench_tiny_")))
        pipe = InstanceDiffusionPipeline.from_folder(folder, args.precision, args.device)
    else:
        pipe = full_random_pipeline(args.precision, args.device)
    load_s = time.perf_counter() - t0
    timed = TimedUNet(pipe.unet)
    pipe.unet = timed
    settings = GenerationSettings(location=args.location, steps=args.steps, guidance_scale=args.guidance_scale,
                                  alpha=args.alpha, mis=args.mis, batched=not args.sequential)
    lay = layout(args.instances)
    for i in range(args.warmup):
        pipe(lay, settings, seed=1000 + i)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timed.seconds, timed.calls, timed.rows = 0.0, 0, 0
    t0 = time.perf_counter()
    for i in range(args.images):
        pipe(lay, settings, seed=i)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    per_image = total / args.images
    unet_per_image = timed.seconds / args.images
    result = {
        "size": args.model or args.size, "device": args.device, "precision": args.precision,
        "mode": "sequential" if args.sequential else "batched", "steps": args.steps, "mis": args.mis,
        "guidance_scale": args.guidance_scale, "instances": args.instances, "images": args.images,
        "s_per_image": round(per_image, 4), "unet_s_per_image": round(unet_per_image, 4),
        "other_s_per_image": round(per_image - unet_per_image, 4),
        "non_unet_fraction": round(1 - unet_per_image / per_image, 4),
        "unet_calls_per_image": timed.calls / args.images, "unet_rows_per_image": timed.rows / args.images,
        "load_s": round(load_s, 2), "torch_threads": torch.get_num_threads(),
    }
    if args.device.startswith("cuda"):
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
