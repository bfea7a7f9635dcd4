"""A seeded synthetic human study for the smoke run: a ratings table and matching per-image automatic scores.

Generative model (so the statistics have something real to find): each picture (image i, variant v) has a latent
quality ``q_iv = mu_i + delta_v`` with ``mu_i ~ N(2.6, 0.8)`` and ``delta_refined = +0.3``; each rater a bias
``b_r ~ N(0, 0.3)``; each criterion an offset (instance quality and perspective are harder, as the published raters
found). A score is ``clip(round(q_iv + b_r + c_k + e), 1, 5)`` with ``e ~ N(0, 0.6)``; a fraction ``missing`` of
(rater, picture) pairs is left unrated. Automatic scores follow the latent quality with noise: ``grounding_iou`` in
[0, 1] and ``clip`` around the extension's 0.278. Everything is drawn from generators seeded by
``derive_seed(seed, "raters", "synthetic", ...)``.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from instdiff.core.io import atomic_path
from instdiff.raters.table import CRITERIA, VARIANTS, write_ratings
from instdiff.core.seeding import rng

CRITERION_OFFSET = {"scene_fit": 0.3, "instance_quality": -0.3, "layout_perspective": -0.2, "overall": 0.0}
VARIANT_OFFSET = {"raw": 0.0, "refined": 0.3}
START = datetime(2024, 5, 19, 10, 12, tzinfo=timezone.utc)


def synthetic_study(seed: int, n_images: int = 12, n_raters: int = 4, variants: Sequence[str] = VARIANTS,
                    criteria: Sequence[str] = CRITERIA, missing: float = 0.05) -> tuple[list[dict], list[dict]]:
    """(ratings rows, automatic-score rows) of a synthetic study; the same arguments give the same rows."""
    g = rng(seed, "raters", "synthetic", "latent")
    image_ids = [f"syn{i:03d}" for i in range(n_images)]
    raters = [f"r{r + 1:02d}" for r in range(n_raters)]
    mu = g.normal(2.6, 0.8, n_images)
    bias = g.normal(0.0, 0.3, n_raters)
    ratings, auto = [], []
    for i, image_id in enumerate(image_ids):
        for v in variants:
            q = mu[i] + VARIANT_OFFSET[v]
            ga = rng(seed, "raters", "synthetic", "auto", image_id, v)
            auto.append({"image_id": image_id, "variant": v, "metric": "grounding_iou",
                         "value": float(np.clip(0.15 * q + ga.normal(0, 0.08), 0.0, 1.0))})
            auto.append({"image_id": image_id, "variant": v, "metric": "clip",
                         "value": float(0.278 + 0.01 * (q - 2.6) + ga.normal(0, 0.01))})
    for r, rater in enumerate(raters):
        gr = rng(seed, "raters", "synthetic", "rater", rater)
        pictures = [(i, v) for i in range(n_images) for v in variants]
        order = gr.permutation(len(pictures))  # raters see the pictures in their own order, as on the page
        stamp = START + timedelta(days=r)
        for k in order:
            i, v = pictures[k]
            if gr.random() < missing:
                continue
            for c in criteria:
                score = int(np.clip(np.rint(mu[i] + VARIANT_OFFSET[v] + bias[r] + CRITERION_OFFSET[c]
                                            + gr.normal(0, 0.6)), 1, 5))
                stamp += timedelta(seconds=int(gr.integers(3, 20)))
                ratings.append({"image_id": image_ids[i], "rater_id": rater, "criterion": c, "score": score,
                                "variant": v, "timestamp": stamp.isoformat()})
    return ratings, auto


def write_synthetic_study(ratings_csv: str | Path, automatic_csv: str | Path, seed: int, n_images: int = 12,
                          n_raters: int = 4, variants: Sequence[str] = VARIANTS, criteria: Sequence[str] = CRITERIA,
                          missing: float = 0.05) -> dict:
    """Write the synthetic ratings table and the automatic scores (image_id, variant, metric, value) atomically."""
    ratings, auto = synthetic_study(seed, n_images, n_raters, variants, criteria, missing)
    write_ratings(ratings_csv, ratings)
    with atomic_path(automatic_csv) as tmp:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["image_id", "variant", "metric", "value"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(auto)
    return {"n_ratings": len(ratings), "n_automatic": len(auto)}
