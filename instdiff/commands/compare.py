"""``instdiff compare RUN_A RUN_B``: Δ = B − A per headline measure, with a 95% CI.

Where both runs hold per-image values for the same images (PiM, attribute accuracy, CLIP_local) the interval is a
paired bootstrap of the per-image differences; elsewhere (COCO AP, FID) it combines the two runs' own intervals as if
independent, which is approximate (see instdiff/report/compare.py). Example:
``instdiff compare results/seed1 results/seed2`` (``--json`` for one JSON object).
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="Δ between two runs per measure, with CIs",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a", metavar="RUN_A", help="the reference run folder (results/{run})")
    p.add_argument("run_b", metavar="RUN_B", help="the run compared with it: Δ = B − A")
    p.add_argument("--configfile-a", default=None, help="RUN_A's config (default: its manifest's sections)")
    p.add_argument("--configfile-b", default=None, help="RUN_B's config (default: its manifest's sections)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text table")
    p.set_defaults(func=run)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.report.compare import compare, to_text

    result = compare(args.run_a, args.run_b, args.configfile_a, args.configfile_b)
    if args.json:
        print_json(result.to_dict())
    else:
        sys.stdout.write(to_text(result))
    return 0
