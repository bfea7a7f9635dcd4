"""Benchmark: seconds per tiny InstanceDiffusion UNet call on CPU (batch 2: one CFG pair), null and real grounding.

Run: OMP_NUM_THREADS=2 python benchmarks/model_tiny_unet.py [--repeats 10]
Prints JSON: mean seconds per call for the null input (ConvNeXt skipped) and with a mask in the conditional row,
the position-net share of the call, and a call with tokens precomputed by encode_grounding. Target for the smoke config: under 0.2 s per call.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from instdiff.model.config import ModelConfig
from instdiff.model.position_net import null_grounding, stack_grounding
from instdiff.model.unet import InstanceDiffusionUNet


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    cfg = ModelConfig.tiny()
    unet = InstanceDiffusionUNet(cfg).eval()
    d = cfg.position_net.in_dim
    x, ctx = torch.randn(2, 4, 64, 64), torch.randn(2, 77, d)
    cond = null_grounding(1, d)
    cond["masks"][0, :3] = 1
    cond["segs"][0, 0, 100:300, 100:300] = 1
    grounding = stack_grounding([cond, None], d)
    with torch.no_grad():
        t_null = _time(lambda: unet(x, 981, ctx, None, 1.0), args.repeats)
        t_cond = _time(lambda: unet(x, 981, ctx, grounding, 1.0), args.repeats)
        t_pn = _time(lambda: unet.position_net(**grounding), args.repeats)
        encoded = unet.encode_grounding(grounding)
        t_pre = _time(lambda: unet(x, 981, ctx, encoded, 1.0), args.repeats)
    print(json.dumps({"threads": torch.get_num_threads(), "s_per_call_null": round(t_null, 4),
                      "s_per_call_with_mask": round(t_cond, 4), "position_net_share_with_mask": round(t_pn / t_cond, 3),
                      "s_per_call_precomputed_tokens": round(t_pre, 4)}))


if __name__ == "__main__":
    main()
