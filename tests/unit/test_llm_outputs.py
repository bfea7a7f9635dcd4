"""The stage's metric files and table: legacy file reproduces 0.42, pipeline files have the contract's shape."""

import csv
import json
from pathlib import Path

import pytest

from instdiff.core.layout import Instance, Layout, write_layouts
from instdiff.llm.evaluate import grounding_metric_file, legacy_metric_file
from instdiff.llm.table import llm_table
from instdiff.llm.visualize import draw_layouts
from tests.conftest import shared_fixtures

REPO = Path(__file__).resolve().parents[2]
EXT = shared_fixtures() / "extension"
needs_ext = pytest.mark.skipif(not (EXT / "bounding_boxes_chatgpt.json").exists(), reason=f"no extension fixtures in {EXT}")


def write_case(tmp_path):
    lay = Layout(
        id="desc_001", caption="c",
        instances=[Instance("a dog", (0.0, 0.0, 0.5, 0.5), category="dog"), Instance("a man", (0.5, 0.5, 1.0, 1.0), category="person")],
        meta={"intended_boxes": [[0.0, 0.0, 0.25, 0.25], [0.5, 0.5, 0.75, 0.75]], "box_format_fed": "legacy_xywh"},
    )
    write_layouts(tmp_path / "layouts.jsonl", [lay])
    det = {"id": "desc_001", "image": "desc_001.png", "raw_text": None,
           "detections": [{"label": "dog", "box": [0.0, 0.0, 0.5, 0.5], "score": 0.9, "text": "a dog"}]}
    (tmp_path / "det.jsonl").write_text(json.dumps(det) + "\n")


def test_grounding_metric_file_scores_both_references(tmp_path):
    write_case(tmp_path)
    out = grounding_metric_file(tmp_path / "layouts.jsonl", {"raw": tmp_path / "det.jsonl"}, tmp_path / "g.json", "owlv2")
    v = out["values"]
    # The generator got the big boxes; the detector found the given dog exactly, a quarter of the intended one.
    assert v["raw.given.mean_iou"] == pytest.approx(1.0) and v["raw.intended.mean_iou"] == pytest.approx(0.25)
    assert v["raw.given.recall"] == pytest.approx(0.5) and v["raw.given.precision"] == pytest.approx(1.0)
    assert all(isinstance(x, (int, float)) for x in v.values())
    assert json.loads((tmp_path / "g.json").read_text())["metric"] == "grounding"


def test_table_counts_are_integers(tmp_path):
    """n comes from the metric file, where every value is a float: the table prints 1, not 1.0000."""
    write_case(tmp_path)
    grounding_metric_file(tmp_path / "layouts.jsonl", {"raw": tmp_path / "det.jsonl"}, tmp_path / "g.json", "owlv2")
    rows = llm_table([tmp_path / "g.json"], None, None, {}, tmp_path / "t.csv", tmp_path / "t.md",
                     layouts=tmp_path / "layouts.jsonl")
    table = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert isinstance(rows[-1]["n"], float)
    assert {r["n"] for r in table} == {"1", "2"}
    iou = next(r for r in table if r["quantity"] == "mean_iou" and r["reference"] == "given")
    assert iou["ours"] == "1.0000"
    assert "| 2 |" in (tmp_path / "t.md").read_text() and ".0000 |\n" not in (tmp_path / "t.md").read_text()


@needs_ext
def test_legacy_file_and_table(tmp_path):
    write_case(tmp_path)
    legacy = legacy_metric_file(EXT / "converted_cogvlm_bboxes.json", EXT / "bounding_boxes_chatgpt.json", tmp_path / "legacy.json")
    assert legacy["values"]["legacy.best-per-label.mean_iou"] == pytest.approx(0.41658, abs=5e-6)
    grounding_metric_file(tmp_path / "layouts.jsonl", {"raw": tmp_path / "det.jsonl"}, tmp_path / "g.json", "owlv2")
    rows = llm_table([tmp_path / "g.json"], None, tmp_path / "legacy.json", {"cogvlm_mean_iou": 0.42}, tmp_path / "t.csv", tmp_path / "t.md")
    table = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(table) == len(rows)
    assert table[0]["published"] == "0.4200" and table[0]["ours"] == "0.4166" and table[0]["reference"] == "legacy xywh misreading"
    assert (tmp_path / "t.md").read_text().startswith("| quantity |")


def test_layout_pictures_named_after_ids(tmp_path):
    write_case(tmp_path)
    files = draw_layouts(tmp_path / "layouts.jsonl", tmp_path / "vis")
    assert [f.name for f in files] == ["desc_001.png"]
    assert json.loads((tmp_path / "vis" / "index.json").read_text())["images"] == ["desc_001.png"]


def test_table_reads_the_clip_file_the_writer_made(tmp_path):
    """The LLM table's CLIP rows come from a file written by clip_metric_file on real images with the smoke's tiny
    open_clip model (no hand-written metric dict)."""
    from PIL import Image

    from instdiff.llm.evaluate import clip_metric_file
    from instdiff.metrics.clip_models import build_tiny

    write_case(tmp_path)
    for variant_dir in (tmp_path / "images", tmp_path / "images" / "refined"):
        variant_dir.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (200, 30, 30)).save(variant_dir / "desc_001.png")
    build_tiny(tmp_path / "clip" / "tiny-clip.safetensors", seed=0)
    settings = {"weights": str(tmp_path / "clip" / "tiny-clip.safetensors"), "batch_size": 2, "n_boot": 100}
    doc = clip_metric_file(tmp_path / "layouts.jsonl", tmp_path / "images", tmp_path / "clip.json", settings,
                           ["raw", "refined"], device="cpu")
    rows = llm_table([], tmp_path / "clip.json", None, {"clip_mean": 0.31}, tmp_path / "t.csv", tmp_path / "t.md")
    means = {r["images"]: r for r in rows if r["quantity"] == "clip_global_mean"}
    assert means["raw"]["ours"] == doc["values"]["raw.mean"] and means["refined"]["published"] == 0.31
    assert means["raw"]["published"] is None and means["raw"]["n"] == doc["values"]["raw.n"]


def test_llm_table_bytes_through_the_report_renderer(tmp_path):
    """The LLM table is rendered by the shared CSV/Markdown helpers (instdiff/core/tabular.py, the paper tables'
    grid); these bytes are what its own writer gave."""
    from instdiff.llm.table import write_table

    rows = [{"quantity": "mean_iou", "scorer": "cogvlm, shipped", "images": "raw", "reference": 'say "x"',
             "matching": "best-per-label", "published": 0.42, "ours": 0.123456, "n": 32.0},
            {"quantity": "clip_global_sd", "scorer": "clip", "images": "refined", "reference": "caption", "matching": "",
             "published": None, "ours": None, "n": None}]
    write_table(rows, tmp_path / "t.csv", tmp_path / "t.md", "foot note")
    assert (tmp_path / "t.csv").read_text() == (
        'quantity,scorer,images,reference,matching,published,ours,n\n'
        'mean_iou,"cogvlm, shipped",raw,"say ""x""",best-per-label,0.4200,0.1235,32\n'
        'clip_global_sd,clip,refined,caption,,,,\n')
    assert (tmp_path / "t.md").read_text() == (
        '| quantity | scorer | images | reference | matching | published | ours | n |\n'
        '|---|---|---|---|---|---|---|---|\n'
        '| mean_iou | cogvlm, shipped | raw | say "x" | best-per-label | 0.4200 | 0.1235 | 32 |\n'
        '| clip_global_sd | clip | refined | caption |  |  |  |  |\n'
        '\nfoot note\n')
    write_table(rows, tmp_path / "b.csv", tmp_path / "b.md", "foot note", banner="Test run: tiny scorers")
    assert (tmp_path / "b.md").read_text().startswith("> **Test run: tiny scorers**\n\n| quantity |")


@pytest.mark.parametrize("image_format,suffix", [("png", ".png"), ("jpeg75", ".jpg")])
def test_scored_image_path_is_the_generated_file_name(tmp_path, image_format, suffix):
    from instdiff.core.errors import InputError
    from instdiff.generation.image_records import image_file
    from instdiff.llm.scorers.run import image_path

    assert image_path(tmp_path, "7", "raw", image_format) == image_file(tmp_path, "7", image_format) == tmp_path / f"7{suffix}"
    assert image_path(tmp_path, "7", "refined", image_format) == tmp_path / "refined" / f"7{suffix}"
    with pytest.raises(InputError, match="image_format"):
        image_path(tmp_path, "7", "raw", "webp")
