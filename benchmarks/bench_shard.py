"""CPU and wall time of one generation job as the rule runs it (a fresh process: imports, model load, the shard).

Needs the smoke run's layouts and converted model (``snakemake results/smoke/models/instancediffusion
results/smoke/layouts/mask.jsonl --cores 1``). Before/after of the smoke's generation settings:
    python benchmarks/bench_shard.py mask 0 2 1 /tmp/gen_before; python benchmarks/bench_shard.py mask 1 2 1 /tmp/gen_before
    python benchmarks/bench_shard.py mask 0 1 2 /tmp/gen_after
Arguments: experiment, shard k, shard count n, group size, output folder. Prints one JSON line.
"""

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
t0 = time.perf_counter()

import yaml  # noqa: E402

from instdiff.generation.shard import ShardJob
from instdiff.generation.settings import GenerationSettings

if __name__ == "__main__":
    cfg = yaml.safe_load(open("config/smoke.yaml"))
    exp, k, n, group, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    m = ShardJob(f"results/smoke/layouts/{exp}.jsonl", "results/smoke/models/instancediffusion", out,
                 f"{out}/shards/{k}-of-{n}.json", exp, k, n, cfg["seed"],
                 GenerationSettings.from_config(cfg["experiments"][exp], cfg["generation"], exp),
                 precision="fp32", device="cpu", group_size=group, torch_threads=2).run()
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"exp": exp, "shard": f"{k}-of-{n}", "group": group, "n_generated": m["n_generated"],
                      "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(r.ru_utime + r.ru_stime, 1),
                      "throughput": m["throughput"]}))
