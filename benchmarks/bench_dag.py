"""How cheap is the workflow to plan? Times the Snakefile parse and `snakemake -n` on the full paper config.

Every SLURM job re-reads the Snakefile, so its parse time is paid once per job; the dry-run time is what a user
waits for before anything is submitted. Baseline in the same run: `snakemake --version` (interpreter + imports).

    python benchmarks/bench_dag.py [--shards 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["generation"]["shards"] = args.shards
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        sm = [sys.executable, "-m", "snakemake"]
        cases = {
            "snakemake --version (baseline)": sm + ["--version"],
            "parse only (--list-rules)": sm + ["--configfile", str(cfg_path), "--list-rules"],
            f"dry-run, {args.shards} shards/experiment (-n -q)": sm + ["--configfile", str(cfg_path), "-n", "-q", "all"],
        }
        times = {}
        for name, cmd in cases.items():
            runs = [timed(cmd, REPO) for _ in range(args.repeat)]
            times[name] = statistics.median(runs)
            print(f"{name:55s} median {times[name]:6.2f} s  (runs: {', '.join(f'{r:.2f}' for r in runs)})")
    base = times["snakemake --version (baseline)"]
    for name, t in times.items():
        print(f"{name:55s} {t / base:5.2f}x baseline")


if __name__ == "__main__":
    main()
