"""``instdiff compare RUN_A RUN_B``: Δ between two runs (B − A) per table cell of our rows, with approximate CIs."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="Δ between two runs (B − A) per metric, with approximate 95%% CIs",
        description="For every cell of our rows both runs' tables computed, print A, B and B − A with an approximate "
                    "95%% CI (the two intervals combined as independent errors). Example: "
                    "instdiff compare results/paper results/paper_seed2")
    p.add_argument("run_a", metavar="RUN_A", help="the first run's results folder (the baseline)")
    p.add_argument("run_b", metavar="RUN_B", help="the second run's results folder")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from instdiff.cli import print_json
    from instdiff.report.summary import compare, compare_text

    c = compare(args.run_a, args.run_b)
    if args.json:
        print_json(c)
    else:
        sys.stdout.write(compare_text(c))
    return 0
