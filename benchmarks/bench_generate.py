"""Time per image of InstanceDiffusionPipeline, split into UNet time and everything else.

CPU, tiny model (the smoke model, converted from its original-format checkpoint):
    python benchmarks/bench_generate.py --size tiny --device cpu --steps 10 --instances 2 --images 2
Refill (a group's next layouts start as MIS merges free rows) against all-at-once, same group and max_batch:
    python benchmarks/bench_generate.py --size tiny --steps 10 --instances 8 --group 8 --max-batch 36 \
        --images 8 --warmup 0 --compare-refill
GPU, full-size model with random weights at the paper settings, ours (bf16, 8 layouts per group, their MIS and
CFG rows stacked), and the sequential fp32 baseline that mimics the original (one UNet call per chain and guidance
pass, one image at a time); benchmarks/gpu.sh runs these:
    python benchmarks/bench_generate.py --size full --device cuda --precision bf16 --group 8 --images 16
    python benchmarks/bench_generate.py --size full --device cuda --precision fp32 --sequential --images 2
(precision modes: instdiff.generation.precision; benchmarks/bench_precision.py compares them on one image)
Prints one JSON line: seconds per image, UNet seconds per image, the non-UNet overhead fraction, UNet calls and rows
per image, rows per call and their share of --max-batch, and (CUDA) peak memory; --compare-refill prints two such
lines and the ratios (with / without refill). Speed goals live here, not in tests (benchmarks/README.md).
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

from instdiff.core.layout import Instance, Layout
from instdiff.generation.pipeline import GenerationSettings, InstanceDiffusionPipeline
from instdiff.generation.precision import PRECISIONS


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


def byte_tokenizer(folder: Path):
    """A CLIP tokenizer over the byte-level alphabet without merges (no open_clip needed on the GPU box); the
    prompt context is 77 tokens whatever the vocabulary, so the UNet's cost is the same."""
    from transformers import CLIPTokenizer

    from instdiff.model.tiny import _bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77,
                         pad_token="<|endoftext|>")


def full_random_pipeline(precision: str, device: str) -> InstanceDiffusionPipeline:
    """SD1.5-size InstanceDiffusion with random weights (no checkpoint needed), initialised on the device, and a
    byte-level CLIP tokenizer."""
    from instdiff.model.config import ModelConfig
    from instdiff.model.convert import build_text_encoder, build_vae
    from instdiff.model.unet import InstanceDiffusionUNet

    cfg = ModelConfig.sd15()
    with torch.device(device):  # random init on the GPU: seconds instead of a minute on the CPU
        unet, vae, te = InstanceDiffusionUNet(cfg).eval(), build_vae(cfg).eval(), build_text_encoder(cfg).eval()
    pipe = InstanceDiffusionPipeline(unet, vae, te, byte_tokenizer(Path(tempfile.mkdtemp(prefix="bench_tok_"))),
                                     precision=precision)
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
    ap.add_argument("--instances", default="8",
                    help="instances per layout; a comma list (e.g. 2,8,5,12) cycles over a group's layouts")
    ap.add_argument("--location", default="mask")
    ap.add_argument("--images", type=int, default=2, help="timed images (rounded up to whole groups)")
    ap.add_argument("--group", type=int, default=1, help="layouts per group (generation.group_size)")
    ap.add_argument("--max-batch", type=int, default=None, help="most rows per UNet call (generation.max_batch)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed groups first")
    ap.add_argument("--sequential", action="store_true", help="the original's call order (no batching)")
    ap.add_argument("--refill", action="store_true",
                    help="start a group's next layouts as MIS merges free rows (needs --max-batch)")
    ap.add_argument("--compare-refill", action="store_true",
                    help="measure without and with --refill in one process; print both and their ratios")
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
    if not args.compare_refill:
        print(json.dumps(measure(pipe, timed, args, args.refill, load_s)))
        return
    without, with_ = (measure(pipe, timed, args, refill, load_s) for refill in (False, True))
    print(json.dumps(without))
    print(json.dumps(with_))
    def ratio(key: str) -> float:
        return round(with_[key] / without[key], 3)

    print(json.dumps({"refill_rows_per_call_ratio": ratio("unet_rows_per_call"),
                      "refill_calls_per_image_ratio": ratio("unet_calls_per_image"),
                      "refill_speedup": round(without["s_per_image"] / with_["s_per_image"], 3)}))


def measure(pipe: InstanceDiffusionPipeline, timed: TimedUNet, args, refill: bool, load_s: float) -> dict:
    """Warm up, then time ``args.images`` images (whole groups); one JSON-ready dict."""
    settings = GenerationSettings(location=args.location, steps=args.steps, guidance_scale=args.guidance_scale,
                                  alpha=args.alpha, mis=args.mis, batched=not args.sequential,
                                  max_batch=args.max_batch)
    counts = [int(n) for n in str(args.instances).split(",")]
    lays = [layout(counts[i % len(counts)]) for i in range(args.group)]
    n_groups = -(-args.images // args.group)

    def run_group(first_seed: int) -> None:
        seeds = list(range(first_seed, first_seed + args.group))
        if args.group == 1:
            pipe(lays[0], settings, seed=seeds[0])
        else:
            pipe.generate_group(lays, settings, seeds=seeds, refill=refill)

    for i in range(args.warmup):
        run_group(1000 + i * args.group)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timed.seconds, timed.calls, timed.rows = 0.0, 0, 0
    t0 = time.perf_counter()
    for g in range(n_groups):
        run_group(g * args.group)
    if cuda:
        torch.cuda.synchronize()
    n_images = n_groups * args.group
    total = time.perf_counter() - t0
    per_image = total / n_images
    unet_per_image = timed.seconds / n_images
    rows_per_call = timed.rows / timed.calls
    result = {
        "size": args.model or args.size, "device": args.device, "precision": args.precision,
        "mode": "sequential" if args.sequential else "batched", "group": args.group, "max_batch": args.max_batch,
        "refill": refill, "steps": args.steps, "mis": args.mis, "guidance_scale": args.guidance_scale,
        "instances": args.instances, "images": n_images, "s_per_image": round(per_image, 4),
        "unet_s_per_image": round(unet_per_image, 4), "other_s_per_image": round(per_image - unet_per_image, 4),
        "non_unet_fraction": round(1 - unet_per_image / per_image, 4),
        "unet_calls_per_image": timed.calls / n_images, "unet_rows_per_image": timed.rows / n_images,
        "unet_rows_per_call": round(rows_per_call, 2),
        # How full the calls are against the row budget: the mean rows per call over max_batch.
        "max_batch_utilisation": round(rows_per_call / args.max_batch, 3) if args.max_batch else None,
        "load_s": round(load_s, 2), "torch_threads": torch.get_num_threads(),
    }
    if cuda:
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["gpu"] = torch.cuda.get_device_name()
    return result


if __name__ == "__main__":
    main()
