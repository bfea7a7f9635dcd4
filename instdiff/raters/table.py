"""The ratings table of the human study: its schema, validation, reading and writing.

Schema (CSV, UTF-8, comma-separated, one header row, one row per single answer — "long" format):

=============  ======================================================================================
column         meaning
=============  ======================================================================================
``image_id``   id of the rated image: the layout id the image is named after (``{image_id}.png``);
               non-empty text without commas or line breaks
``rater_id``   pseudonymous id of the rater (``--rater`` of ``instdiff rate``); non-empty
``criterion``  one of ``scene_fit`` (instance types fit the global scene), ``instance_quality``
               (quality of the generated instances), ``layout_perspective`` (object sizes and
               arrangement in a realistic perspective), ``overall`` (overall realism)
``score``      integer 1..5, 5 best (the extension's realism scale)
``variant``    ``raw`` (InstanceDiffusion output) or ``refined`` (after the SDXL refiner); raters
               never see this value
``timestamp``  when the answer was given, ISO 8601 with time zone (``2024-05-19T10:12:00+00:00``)
=============  ======================================================================================

A rating is identified by (``image_id``, ``variant``, ``rater_id``, ``criterion``); the same key twice is a
duplicate and an error (the rating page keeps only a rater's last answer per key). Extra columns are kept
and ignored. Criteria a study did not ask are simply absent: every statistic works on the criteria present.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from instdiff.core.errors import InputError
from instdiff.core.io import atomic_path

COLUMNS = ["image_id", "rater_id", "criterion", "score", "variant", "timestamp"]
CRITERIA = ["scene_fit", "instance_quality", "layout_perspective", "overall"]
CRITERION_LABELS = {
    "scene_fit": "Instances fit the scene",
    "instance_quality": "Instance quality",
    "layout_perspective": "Sizes, arrangement, perspective",
    "overall": "Overall realism",
}
# The question shown to raters: the extension's three criteria (blog text) plus an overall judgement.
CRITERION_QUESTIONS = {
    "scene_fit": "How well do the instance types fit the global scene (e.g. a coffee table in a living room)?",
    "instance_quality": "How good is the quality of the generated instances?",
    "layout_perspective": "Are object sizes and arrangement realistic, in a correct perspective?",
    "overall": "Overall, how realistic is the image?",
}
VARIANTS = ["raw", "refined"]
SCORES = [1, 2, 3, 4, 5]
KEY = ["image_id", "variant", "rater_id", "criterion"]


def _row_error(path, lineno: int, problem: str, fix: str, field: str) -> InputError:
    # Line numbers count the header as line 1, so they match what an editor shows.
    return InputError(path, f"line {lineno}: {problem}", fix, field)


def validate_row(row: dict, path, lineno: int, known_images: set[str] | None = None) -> dict:
    """Check one raw CSV row and return it typed (score as int, timestamp as text). Raises InputError."""
    out = {}
    for col in ("image_id", "rater_id"):
        value = (row.get(col) or "").strip()
        if not value:
            raise _row_error(path, lineno, f"{col} is empty", f"give every row a {col}", col)
        out[col] = value
    criterion = (row.get("criterion") or "").strip()
    if criterion not in CRITERIA:
        raise _row_error(path, lineno, f"unknown criterion {criterion!r}", f"use one of {', '.join(CRITERIA)}",
                         "criterion")
    out["criterion"] = criterion
    raw_score = (row.get("score") or "").strip()
    try:
        score_f = float(raw_score)
    except ValueError:
        score_f = math.nan
    if not (score_f == score_f and score_f.is_integer() and int(score_f) in SCORES):
        raise _row_error(path, lineno, f"score {raw_score!r} is not an integer from 1 to 5",
                         "correct the score to 1, 2, 3, 4 or 5 (5 best)", "score")
    out["score"] = int(score_f)
    variant = (row.get("variant") or "").strip()
    if variant not in VARIANTS:
        raise _row_error(path, lineno, f"unknown variant {variant!r}", f"use one of {', '.join(VARIANTS)}", "variant")
    out["variant"] = variant
    stamp = (row.get("timestamp") or "").strip()
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _row_error(path, lineno, f"timestamp {stamp!r} is not ISO 8601 with a time zone",
                         "write it like 2024-05-19T10:12:00+00:00", "timestamp")
    out["timestamp"] = stamp
    if known_images is not None and out["image_id"] not in known_images:
        raise _row_error(path, lineno, f"image {out['image_id']!r} is not one of the {len(known_images)} study images",
                         "correct the image_id or rate against the right image folder", "image_id")
    return out


def read_ratings(paths: str | Path | Sequence[str | Path], known_images: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and validate one or more ratings CSVs (e.g. one per rater) into one DataFrame with :data:`COLUMNS`.

    Raises :class:`InputError` naming the file, line and field for the first bad row, and for a duplicate
    rating key (also across files: a rater's table given twice is caught).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    known = None if known_images is None else {str(k) for k in known_images}
    rows: list[dict] = []
    seen: dict[tuple, tuple[str, int]] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "ratings table does not exist",
                             "collect ratings with `instdiff rate` or correct the path")
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(path, f"header lacks column(s) {', '.join(missing)}",
                                 f"the header must hold {','.join(COLUMNS)} (docs/raters.md)", missing[0])
            for lineno, raw in enumerate(reader, start=2):
                row = validate_row(raw, path, lineno, known)
                key = tuple(row[k] for k in KEY)
                if key in seen:
                    first_path, first_line = seen[key]
                    raise _row_error(path, lineno,
                                     f"duplicate rating: rater {row['rater_id']!r} already rated {row['criterion']} of "
                                     f"image {row['image_id']!r} ({row['variant']}) at {first_path} line {first_line}",
                                     "keep one of the two rows (a rater rates each image, variant and criterion once)",
                                     "rater_id")
                seen[key] = (str(path), lineno)
                rows.append(row)
    if not rows:
        raise InputError(paths[0] if paths else None, "ratings table holds no ratings", "collect ratings first")
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["score"] = df["score"].astype(int)
    return df


def human_means(df: pd.DataFrame, criterion: str | None, by_variant: bool) -> pd.Series:
    """Mean human score per image (over raters, and over criteria when ``criterion`` is None)."""
    if criterion is not None:
        df = df[df["criterion"] == criterion]
    keys = ["image_id", "variant"] if by_variant else ["image_id"]
    return df.groupby(keys)["score"].mean()


def write_ratings(path: str | Path, rows: Iterable[dict]) -> int:
    """Write rows (dicts with :data:`COLUMNS`) atomically as a ratings CSV, sorted by key. Returns the row count."""
    rows = sorted(rows, key=lambda r: (str(r["rater_id"]), str(r["image_id"]), str(r["variant"]),
                                       CRITERIA.index(r["criterion"])))
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return len(rows)
