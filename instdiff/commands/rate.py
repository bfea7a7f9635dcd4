"""``instdiff rate``: serve the rating page for one rater on 127.0.0.1 until Ctrl-C (see instdiff.raters.page)."""

from __future__ import annotations

import logging
import signal

from instdiff.raters.table import CRITERIA

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rate", help="serve the human-rating page for one rater (local, blinded, resumable)",
        description="Serve the rating page of the human study on http://127.0.0.1:PORT/ for one rater until Ctrl-C: "
                    "pictures in a per-rater random order, which model made them hidden, answers saved as they are "
                    "given (a restart resumes). On exit writes the ratings table and prints a JSON summary.")
    p.add_argument("--images", required=True,
                   help="folder of study images ({id}.png + {id}_xl_*.png, or raw/ and refined/ sub-folders)")
    p.add_argument("--rater", required=True, help="the rater's pseudonym (also seeds the rater's picture order)")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port; default 8765)")
    p.add_argument("--out", default=None, help="ratings table to write (default: ratings_{rater}.csv)")
    p.add_argument("--captions", default=None, help="captions: layouts .jsonl or a {image_id: caption} .json")
    p.add_argument("--seed", type=int, default=2024, help="study seed for the picture order (default 2024)")
    p.add_argument("--criteria", nargs="+", default=CRITERIA, choices=CRITERIA, help="criteria to ask (default: all)")
    p.add_argument("--skip-bad-journal-lines", action="store_true",
                   help="move unreadable lines of the answers journal to {out}.journal.skipped.jsonl and go on")
    p.set_defaults(func=run)


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and ``kill`` (SIGTERM) both end the session cleanly: ratings table written, summary printed.
    SIGINT is set explicitly because a shell starts a background command (``instdiff rate ... &``) with SIGINT
    ignored, and Python then leaves it ignored: the server could not be stopped but by kill -9."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def run(args) -> int:
    from instdiff.cli import print_json
    from instdiff.core.logging_setup import setup
    from instdiff.raters.images import discover_images
    from instdiff.raters.page import RatingSession, check_rater_name, make_server, out_lock

    setup()
    out = args.out or f"ratings_{check_rater_name(args.rater)}.csv"
    discover_images(args.images)  # a wrong folder is reported before the lock file is created
    with out_lock(out):
        session = RatingSession(args.images, args.rater, out, args.seed, args.captions, args.criteria,
                                skip_bad_lines=args.skip_bad_journal_lines)
        server = make_server(session, args.port)
        host, port = server.server_address[:2]
        _stop_on_signals()  # before the URL is shown: from then on a signal stops the server cleanly
        log.info("rater %s: %d pictures, %d already rated; open http://%s:%d/ (Ctrl-C to stop)",
                 session.rater, len(session.items), session.n_done(), host, port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    print_json({**session.summary(), "url": f"http://{host}:{port}/"})
    return 0
