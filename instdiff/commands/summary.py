"""``instdiff summary RUN_DIR``: the headline numbers of a run, ours against the paper with CIs and Δ."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "summary", help="ours vs the paper, with 95%% CIs and Δ, from a finished run's tables",
        description="Print each comparison the run's tables make (ours, the published value, Δ = ours − published, "
                    "with 95%% CIs), read from RUN_DIR/tables/*.csv. Example: instdiff summary results/smoke")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run's results folder, e.g. results/paper")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from instdiff.cli import print_json
    from instdiff.report.summary import summarize, summary_text

    s = summarize(args.run_dir)
    if args.json:
        print_json(s)
    else:
        sys.stdout.write(summary_text(s))
    return 0
