"""Layout pictures: each instance's intended box (green) and, when it differs, the box the generator was given (red),
with the instance phrase, on a white canvas; the caption on top. Files are named after the layout id."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from instdiff.core.io import atomic_path, write_json
from instdiff.core.layout import Layout, denormalize_xyxy, read_layouts
from instdiff.llm.stage import given_boxes, intended_boxes

INTENDED, GIVEN, TEXT = (0, 150, 0), (220, 0, 0), (0, 0, 0)


def draw_layout(layout: Layout, scale: int = 1) -> Image.Image:
    w, h = layout.width * scale, layout.height * scale
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    for inst, want, got in zip(layout.instances, intended_boxes(layout), given_boxes(layout)):
        box = denormalize_xyxy(want, w, h)
        if tuple(got) != tuple(want):
            draw.rectangle(denormalize_xyxy(got, w, h), outline=GIVEN, width=2)
        draw.rectangle(box, outline=INTENDED, width=2)  # on top: shared edges show the intent
        draw.text((box[0] + 3, box[1] + 2), inst.phrase[:40], fill=TEXT)
    draw.text((4, 4), layout.caption[:90], fill=(200, 0, 120))
    return image


def draw_layouts(layouts_path: str | Path, out_dir: str | Path) -> list[Path]:
    """``{out_dir}/{id}.png`` for every layout, and ``{out_dir}/index.json`` listing them (the rule's output)."""
    out = Path(out_dir)
    files = []
    for layout in read_layouts(layouts_path):
        path = out / f"{layout.id}.png"
        with atomic_path(path) as tmp:
            draw_layout(layout).save(tmp, format="PNG")
        files.append(path)
    write_json(out / "index.json", {"images": [p.name for p in files], "legend": {"green": "intended box", "red": "box given to the generator"}})
    return files
