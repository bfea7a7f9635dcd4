"""The LLM stage's table: published numbers beside ours, per scorer (``tables/llm.csv`` and ``tables/llm.md``).

Rows name the quantity, the scorer, the image variant and the reference boxes; ``published`` is filled only where
the extension reported that exact quantity (config ``llm.published``), ``ours`` from the metric files. The first rows
count the layouts and how many of them are distinct (identical layouts make the scores look more certain than they
are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from instdiff.core.io import write_text
from instdiff.core.layout import read_layouts
from instdiff.metrics.record import read_record
from instdiff.core.tabular import csv_text, markdown_grid

COLUMNS = ["quantity", "scorer", "images", "reference", "matching", "published", "ours", "n"]
GROUNDING_METRICS = ("mean_iou", "recall", "precision", "success_at_0.5", "auc")


COUNT_COLUMNS = ("n",)


def _fmt(v: Any, column: str = "") -> str:
    """A cell's text: counts as integers (metric files store every value as a float: 32.0 is printed 32), other
    numbers with 4 decimals."""
    if v is None or v == "":
        return ""
    if column in COUNT_COLUMNS and isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def layout_rows(layouts: str | Path) -> list[dict]:
    """``layouts`` and ``distinct_layouts`` (by what the generator is asked for; ids left out)."""
    from instdiff.llm.stage import count_distinct

    found = read_layouts(layouts)
    source = ", ".join(sorted({str(lay.meta.get("source", "api")) for lay in found})) or "none"
    return [{"quantity": "layouts", "scorer": source, "images": "", "reference": "", "matching": "",
             "published": None, "ours": len(found), "n": len(found)},
            {"quantity": "distinct_layouts", "scorer": source, "images": "", "reference": "", "matching": "",
             "published": None, "ours": count_distinct(found), "n": len(found)}]


def build_rows(grounding: Sequence[str | Path], clip: str | Path | None, legacy: str | Path | None, published: Mapping[str, float],
               layouts: str | Path | None = None) -> list[dict]:
    rows: list[dict] = layout_rows(layouts) if layouts else []
    if legacy:
        v = read_record(legacy, "grounding").values
        rows.append({"quantity": "mean_iou", "scorer": "cogvlm (shipped boxes)", "images": "raw", "reference": "legacy xywh misreading",
                     "matching": "best-per-label", "published": published.get("cogvlm_mean_iou"),
                     "ours": v.get("legacy.best-per-label.mean_iou"), "n": v.get("legacy.best-per-label.n_pairs")})
        for ref in ("intended", "given"):
            for matching in ("best-per-label", "hungarian"):
                for metric in ("mean_iou", "recall", "precision"):
                    rows.append({"quantity": metric, "scorer": "cogvlm (shipped boxes)", "images": "raw", "reference": ref,
                                 "matching": matching, "published": None,
                                 "ours": v.get(f"{ref}.{matching}.{metric}"), "n": v.get(f"{ref}.{matching}.n_gt")})
    for path in grounding:
        data = read_record(path, "grounding")
        v, scorer = data.values, data.variant
        for variant in data.settings["variants"]:
            for ref in ("intended", "given"):
                for metric in GROUNDING_METRICS:
                    rows.append({"quantity": metric, "scorer": scorer, "images": variant, "reference": ref,
                                 "matching": data.settings["matching"], "published": None,
                                 "ours": v.get(f"{variant}.{ref}.{metric}"), "n": v.get(f"{variant}.{ref}.n_gt")})
    if clip:
        data = read_record(clip, "clip_global")
        v = data.values
        name = f"clip {data.settings.get('arch')}"
        for variant in data.settings["variants"]:
            # The extension scored the SDXL-refined images: its number compares with our refined row.
            pub = published.get("clip_mean") if variant == "refined" else None
            rows.append({"quantity": "clip_global_mean", "scorer": name, "images": variant, "reference": "caption",
                         "matching": "", "published": pub, "ours": v.get(f"{variant}.mean"), "n": v.get(f"{variant}.n")})
            rows.append({"quantity": "clip_global_sd", "scorer": name, "images": variant, "reference": "caption",
                         "matching": "", "published": published.get("clip_sd") if variant == "refined" else None,
                         "ours": v.get(f"{variant}.sd"), "n": v.get(f"{variant}.n")})
    return rows


def write_table(rows: list[dict], csv_path: str | Path, md_path: str | Path, footer: str = "",
                banner: str | None = None) -> None:
    """``banner``: a run of tiny stand-in scorers says so above the table (instdiff.core.banner)."""
    texts = [[_fmt(row.get(k), k) for k in COLUMNS] for row in rows]
    write_text(csv_path, csv_text(COLUMNS, texts))
    lines = ([f"> **{banner}**", ""] if banner else []) + markdown_grid(COLUMNS, texts)
    if footer:
        lines += ["", footer]
    write_text(md_path, "\n".join(lines) + "\n")


def llm_table(grounding, clip, legacy, published: Mapping[str, float], csv_path, md_path, layouts=None,
              banner: str | None = None) -> list[dict]:
    rows = build_rows(list(grounding), clip, legacy, dict(published or {}), layouts)
    footer = ("published: the extension's README (CogVLM IoU over 20 images, 32 best-per-label pairs, boxes misread as "
              "xywh; CLIP on the refined images). ours: this run; 'given' = the boxes the generator received.")
    write_table(rows, csv_path, md_path, footer, banner=banner)
    return rows
