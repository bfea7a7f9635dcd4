"""Generation cost: the seconds per image each experiment's shards measured, and what ``images`` images would take
at that rate (``tables/generation_cost.csv`` and ``.md``).

Read from the done files the generation stage writes (``images/{experiment}/done.json``): each shard's
``throughput`` (images generated in that job, seconds per image over its generation loop, the device) and the
folder's fingerprint (precision, steps). The rate is the shards' total generation seconds over the images they
generated, so a smoke run on the CPU shows its own cost, and a short GPU run shows what the paper run will cost
before it is submitted. Shards whose images were all reused from an earlier run generated nothing and count
neither seconds nor images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, write_text
from instdiff.core.tabular import csv_text, markdown_grid

COLUMNS = ["experiment", "images", "generated", "shards", "device", "precision", "steps", "s_per_image",
           "images_per_s", "generate_s", "projected_images", "projected_device_hours"]


def experiment_cost(done_path: str | Path, projected_images: int) -> dict[str, Any]:
    """One row: the experiment's generation rate from its done file, and the device-hours for ``projected_images``."""
    done = read_json(done_path)
    shards = done.get("shards")
    if not isinstance(shards, list):
        raise InputError(done_path, "no `shards` list", "rerun generate_done for this experiment (a done file from "
                         "before shards were recorded)", "shards")
    measured = [s["throughput"] for s in shards if (s.get("throughput") or {}).get("n_generated")]
    generated = sum(t["n_generated"] for t in measured)
    seconds = sum(t["n_generated"] * t["s_per_image"] for t in measured)
    rate = seconds / generated if generated else None
    devices = sorted({t.get("device") or "unrecorded" for t in measured})
    fingerprint = done.get("fingerprint") or {}
    return {
        "experiment": done["experiment"],
        "images": done["n_images"],
        "generated": generated,
        "shards": len(shards),
        "device": ", ".join(devices),
        "precision": fingerprint.get("precision", ""),
        "steps": (fingerprint.get("settings") or {}).get("steps", ""),
        "s_per_image": rate,
        "images_per_s": 1 / rate if rate else None,
        "generate_s": seconds if generated else None,
        "projected_images": projected_images,
        "projected_device_hours": rate * projected_images / 3600 if rate else None,
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_cost_table(done_files: Mapping[str, str | Path], projected_images: int, csv_path: str | Path,
                     md_path: str | Path) -> list[dict[str, Any]]:
    """The table of every experiment in ``done_files`` (experiment -> done.json), in that order."""
    rows = [experiment_cost(path, projected_images) for path in done_files.values()]
    texts = [[_text(r[c]) for c in COLUMNS] for r in rows]
    write_text(csv_path, csv_text(COLUMNS, [[("" if r[c] is None else r[c]) for c in COLUMNS] for r in rows]))
    lines = ["## Generation cost: seconds per image measured in this run", ""] + markdown_grid(COLUMNS, texts)
    lines += ["", f"projected_device_hours: s_per_image x {projected_images} images (config `report.cost_images`) on one "
              "device of the kind listed; the rate is the shards' generation loops (model loading aside). An empty "
              "rate: every image was reused from an earlier run."]
    write_text(md_path, "\n".join(lines) + "\n")
    return rows
