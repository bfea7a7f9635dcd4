"""The run's report page (issue 22 item 6): opens on the forest plot and the headline tables, carries the banner,
embeds thumbnails (small file), and renders in a real browser."""

import base64
import io
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from instdiff.report import figures as FG
from instdiff.report.page import THUMB_PX, write_report_page
from instdiff.report.specs import TABLE_FILES, TABLES
from instdiff.report.tables import make_table

from tests.report_helpers import real_inputs, smoke_metrics

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "config" / "paper_results.yaml"
CHROMIUM = Path("/usr/bin/chromium")
CONFIG = {"run": "smoke", "seed": 1, "data": {"source": "synthetic"}, "models": {"source": "tiny"}, "report": {},
          "experiments": {"box": {"kind": "generated", "metrics": ["coco_bbox"]},
                          "point": {"kind": "generated", "metrics": ["pim_point"]},
                          "real": {"kind": "real", "metrics": ["coco_bbox"]}}}
BANNER = "Test run on tiny models: these numbers test the wiring, not the model."


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from PIL import Image

    run = tmp_path_factory.mktemp("run")
    inputs = real_inputs(run / "inputs")
    smoke_metrics(run / "metrics", inputs)
    tables = []
    for name in TABLES:
        out = run / "tables" / f"{TABLE_FILES[name]}.html"
        make_table(name, CONFIG, run / "metrics", PAPER, [out])
        tables.append(out)
    figs = run / "figures"
    figs.mkdir()
    FG.delta_forest(CONFIG, run / "metrics", PAPER, [figs / "delta_forest.png", figs / "delta_forest.pdf"])
    FG.pim_distributions([run / "metrics" / "point" / "pim_point_paper.json"], [figs / "pim_distributions.png"])
    # A photograph-sized grid (what a qualitative figure of 512 px images is): 4000 x 3000 px of noise.
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)).save(figs / "qualitative_box.png")
    assert (figs / "qualitative_box.png").stat().st_size > 20e6
    # The smoke's seven grids (4 rows x 3 columns at 110 dpi) of its tiny model's noise images.
    grids = []
    for i in range(7):
        grids.append(figs / f"qualitative_e{i}.png")
        Image.fromarray(rng.integers(0, 255, (1144, 825, 3), dtype=np.uint8)).save(grids[-1])
    out = run / "report.html"
    write_report_page(out, "smoke", tables, [figs / "pim_distributions.png", figs / "qualitative_box.png",
                                             figs / "delta_forest.png", *grids], banner=BANNER)
    return out


def test_page_opens_on_the_results_and_stays_small(page):
    from PIL import Image

    text = page.read_text()
    assert page.stat().st_size < 4e6
    # Reading order: banner, the forest plot, then Table 1 .. Table 4 and the FID table, then the other figures.
    order = [text.index(s) for s in (BANNER, "alt='delta_forest'", "Table 1 (boxes)", "Table 2 (masks)",
                                     "Table 3 (PiM)", "Table 4 (attribute binding)", "FID and KID per input format",
                                     "alt='pim_distributions'", "alt='qualitative_box'")]
    assert order == sorted(order)
    words = re.sub(r"data:image/\w+;base64,[^']+", "", text)
    assert "DAG" not in words and "rulegraph" not in words
    # Thumbnails, linked to the full files beside the page (relative links).
    for uri in re.findall(r"src='data:image/\w+;base64,([^']+)'", text):
        with Image.open(io.BytesIO(base64.b64decode(uri))) as im:
            assert max(im.size) <= THUMB_PX
    assert "href='figures/qualitative_box.png'" in text and "href='figures/delta_forest.pdf'" in text
    assert "href='tables/table1_boxes.html'" in text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_page_renders_in_chromium(page, tmp_path):
    from PIL import Image

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--window-size=1280,1024"]
    shot = tmp_path / "shot.png"
    subprocess.run([str(CHROMIUM), *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert img.std() > 10 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50, "blank screenshot"
    dom = subprocess.run([str(CHROMIUM), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=180).stdout
    assert "Table 1 (boxes)" in dom and BANNER in dom and dom.count("<img") == 10
