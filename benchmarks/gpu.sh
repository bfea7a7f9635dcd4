#!/usr/bin/env bash
# The prepared GPU benchmark of issue 15: InstanceDiffusion generation at the paper settings (50 PLMS steps,
# CFG 7.5, MIS 0.36, 8 instances, mask config) on the full-size model with random weights, about 5-8 minutes of
# one H200 in all:
#   1. ours, batched across images (GROUP layouts per group, MIS and CFG rows stacked), bf16;
#   2. the same in autocast-fp16 (fp32 weights, the UNet under fp16 autocast, as the original ran);
#   3. the sequential fp32 baseline that mimics the original (one UNet call per chain and guidance pass);
#   4. refill in bf16 and in autocast-fp16: REFILL_GROUP layouts per group, at most MAX_BATCH rows a call, each
#      measured all-at-once (rows split into MAX_BATCH) and with refill (a layout starts as MIS merges free rows),
#      in one process (bench_generate.py --compare-refill).
# It prints each run's JSON line, then one summary JSON: s/image, peak memory, rows per call, the speed-up over
# run 3 and refill's speed-up over all-at-once.
#
# The GPU machine has torch but neither diffusers nor a package registry, so the wheels travel with the tree.
# Prepare them ONCE on a machine with PyPI access, from the repository root (benchmarks/wheels/ is git-ignored:
# never commit wheels; about 60 MB). Set --python-version to the GPU machine's Python:
#   python3 -m pip download --only-binary=:all: --python-version 3.11 --dest benchmarks/wheels \
#       diffusers==0.42.1 transformers==5.23.0 tokenizers==0.23.3 huggingface_hub==2.4.0 safetensors==0.8.0 \
#       numpy==2.4.6 pillow==13.0.0 pyyaml==6.0.3 tqdm==4.70.1 requests==2.34.2
# Then, on the GPU machine, from the repository root (with benchmarks/wheels carried along):
#   bash benchmarks/gpu.sh [OUT_DIR]          # OUT_DIR (default $OUT or /tmp/instdiff-gpu-bench) gets the JSON
# Knobs (environment): GROUP (default 8), IMAGES (timed images of ours, default 16), BASELINE_IMAGES (default 2),
# REFILL_GROUP (default 16), MAX_BATCH (rows per call of the refill runs, default 72: four 8-instance layouts).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-benchmarks/wheels}
OUT_DIR=${1:-${OUT:-/tmp/instdiff-gpu-bench}}
GROUP=${GROUP:-8}
IMAGES=${IMAGES:-16}
BASELINE_IMAGES=${BASELINE_IMAGES:-2}
REFILL_GROUP=${REFILL_GROUP:-16}
MAX_BATCH=${MAX_BATCH:-72}
PY=${PYTHON:-python3}
mkdir -p "$OUT_DIR"

$PY -c "import torch, sys; assert torch.cuda.is_available(), 'no CUDA device'; \
print('python', sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name())"

# Install what the box lacks into a private folder (nothing in the system's site-packages changes; torch stays).
SITE="$OUT_DIR/site"
if ! $PY -c "import diffusers, transformers" 2>/dev/null; then
  [ -d "$WHEELS" ] || { echo "no $WHEELS: prepare the wheels first (see the top of $0)" >&2; exit 2; }
  $PY -m pip install --quiet --no-index --find-links "$WHEELS" --target "$SITE" \
      diffusers transformers tokenizers safetensors huggingface_hub pyyaml tqdm regex
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

bench() {  # NAME ARGS...: one run; its JSON lines go to OUT_DIR/NAME.json (a failed run writes an error object)
  local name=$1; shift
  echo "== $name: bench_generate.py $*" >&2
  if $PY benchmarks/bench_generate.py --size full --device cuda --steps 50 --mis 0.36 --guidance-scale 7.5 \
       --instances 8 --location mask "$@" > "$OUT_DIR/$name.out" 2> "$OUT_DIR/$name.err"; then
    grep '^{' "$OUT_DIR/$name.out" > "$OUT_DIR/$name.json"
  else
    echo "{\"error\": \"exit $?\", \"stderr_tail\": $(tail -c 600 "$OUT_DIR/$name.err" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}" > "$OUT_DIR/$name.json"
  fi
  cat "$OUT_DIR/$name.json"
}

bench ours_bf16 --precision bf16 --group "$GROUP" --images "$IMAGES" --warmup 1
if grep -q '"error"' "$OUT_DIR/ours_bf16.json"; then  # out of memory at this group size: halve it once
  GROUP=$((GROUP / 2)); IMAGES=$((IMAGES / 2))
  bench ours_bf16 --precision bf16 --group "$GROUP" --images "$IMAGES" --warmup 1
fi
bench ours_autocast_fp16 --precision autocast-fp16 --group "$GROUP" --images "$IMAGES" --warmup 1
bench baseline_fp32_sequential --precision fp32 --sequential --images "$BASELINE_IMAGES" --warmup 1
for p in bf16 autocast-fp16; do
  bench "refill_$p" --precision "$p" --group "$REFILL_GROUP" --max-batch "$MAX_BATCH" --images "$REFILL_GROUP" \
    --warmup 1 --compare-refill
done

$PY - "$OUT_DIR" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def lines(name):
    return [json.loads(line) for line in (out / f"{name}.json").read_text().splitlines() if line.strip()]

runs = {n: lines(n)[-1] for n in ("ours_bf16", "ours_autocast_fp16", "baseline_fp32_sequential")}
for p in ("bf16", "autocast-fp16"):  # --compare-refill: all-at-once, refill, then the ratios
    got = lines(f"refill_{p}")
    if len(got) == 3:
        runs[f"{p}_all_at_once_mb"], runs[f"{p}_refill_mb"] = got[0], got[1]
        runs[f"{p}_all_at_once_mb"]["refill_ratios"] = got[2]
    else:
        runs[f"{p}_refill_mb"] = got[-1]
base = runs["baseline_fp32_sequential"].get("s_per_image")
summary = {n: {k: r.get(k) for k in ("s_per_image", "unet_s_per_image", "peak_mem_gib", "group", "precision",
                                     "max_batch", "refill", "unet_rows_per_image", "unet_rows_per_call",
                                     "max_batch_utilisation", "refill_ratios", "error")} for n, r in runs.items()}
for n, r in runs.items():
    s = r.get("s_per_image")
    summary[n]["speedup_vs_baseline"] = round(base / s, 2) if base and s else None
summary["goal"] = {"bf16_s_per_image_max": 1.5, "speedup_min": 10}
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary))
PY
