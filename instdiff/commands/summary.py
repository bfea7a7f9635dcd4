"""``instdiff summary RUN_DIR``: the run's headline numbers beside the paper's, with 95% CIs and Δ ours − paper.

Reads ``RUN_DIR/metrics/**.json`` and ``RUN_DIR/manifest.json`` (which experiments feed each measure) and the
published numbers (``config/paper_results.yaml``). A measure the run has not computed is shown as missing.
Example: ``instdiff summary results/smoke`` (``--json`` for one JSON object).
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("summary", help="a run's headline numbers vs the paper's, with CIs and Δ",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, results/{run}")
    p.add_argument("--paper", default=None, help="published numbers (default: the repository's config/paper_results.yaml)")
    p.add_argument("--configfile", default=None,
                   help="the run's config (default: the sections in RUN_DIR/manifest.json; needed for report.replicates)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text table")
    p.set_defaults(func=run)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.report.summary import summarize, to_text

    summary = summarize(args.run_dir, args.paper, args.configfile)
    if args.json:
        print_json(summary.to_dict())
    else:
        sys.stdout.write(to_text(summary))
    return 0
