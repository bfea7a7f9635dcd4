"""``instdiff grounding-iou``: score the extension's JSON-lines box files (CogVLM vs ChatGPT boxes).

Prints one JSON object: mean IoU, recall, precision, success@0.5, AUC and the counts. ``--mode legacy`` recomputes
the published number (both box sets misread as xywh, best IoU per label); ``intended`` and ``given`` read boxes as
corners against the boxes the LLM wrote and the boxes the generator actually received.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("grounding-iou", help="IoU between predicted and layout boxes (extension box files)", description=__doc__)
    p.add_argument("--pred", required=True, help="JSON-lines file of predicted boxes (e.g. converted_cogvlm_bboxes.json)")
    p.add_argument("--gt", required=True, help="JSON-lines file of layout boxes (e.g. bounding_boxes_chatgpt.json)")
    p.add_argument("--mode", choices=["legacy", "intended", "given"], default="intended")
    p.add_argument(
        "--matching",
        choices=["hungarian", "best-per-label"],
        default=None,
        help="default: best-per-label for legacy (the published rule), hungarian otherwise",
    )
    p.add_argument("--canvas", type=int, default=512, help="canvas size in pixels (clips the 'given' boxes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instdiff.cli import print_json
    from instdiff.metrics.grounding_iou import score_extension_files

    print_json(score_extension_files(args.pred, args.gt, args.mode, args.matching, args.canvas, args.canvas))
    return 0
