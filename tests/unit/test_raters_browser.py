"""End to end in headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by selenium): rate a few
pictures with the keyboard, reload the page, check it resumes and that the ratings table holds every answer."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium chromium-driver)"
)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(tmp_path):
    from instdiff.raters.page import RatingSession, make_server

    images = tmp_path / "imgs"
    images.mkdir()
    for i, name in enumerate(["10.png", "10_xl_s0.4_n20.png", "11.png", "11_xl_s0.4_n20.png"]):
        Image.new("RGB", (64, 64), (60 * i, 100, 160)).save(images / name)
    captions = tmp_path / "captions.json"
    captions.write_text('{"10": "a dog on a bench in a park", "11": "a cat on a sofa"}')
    out = tmp_path / "ratings.csv"
    session = RatingSession(images, "tester", out, 2024, captions)
    server = make_server(session, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield session, f"http://127.0.0.1:{server.server_address[1]}/", out
    server.shutdown()
    server.server_close()


@pytest.fixture
def driver(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _wait(predicate, timeout=20.0):
    """Poll until predicate() is truthy. The page re-renders its buttons after every saved answer, so an element
    found a moment ago can go stale: that counts as "not yet"."""
    from selenium.common.exceptions import StaleElementReferenceException

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = predicate()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _saved(drv) -> int:
    from selenium.webdriver.common.by import By

    return int(drv.find_element(By.ID, "status").get_attribute("data-saved") or 0)


def _click(drv, element_id: str) -> None:
    from selenium.webdriver.common.by import By

    _wait(lambda: drv.find_element(By.ID, element_id).click() or True)


def _rate(drv, keys: str, expected_saves: int):
    """Type one key per criterion, wait until the server confirmed each, then press Enter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    body = drv.find_element(By.TAG_NAME, "body")
    for key in keys:
        body.send_keys(key)
        time.sleep(0.05)  # one request at a time keeps the journal order equal to the key order
    _wait(lambda: _saved(drv) >= expected_saves)
    body.send_keys(Keys.ENTER)


def test_rate_reload_and_check_the_table(page, driver):
    from selenium.webdriver.common.by import By

    session, url, out = page
    driver.get(url)
    _wait(lambda: driver.find_element(By.ID, "progress").text.startswith("Picture 1 of 4"))
    # The caption is shown; nothing on the page names the file or the variant.
    assert driver.find_element(By.ID, "caption").text.strip("\u201c\u201d") in {"a dog on a bench in a park",
                                                                                 "a cat on a sofa"}
    html = driver.page_source
    assert "refined" not in html and "_xl" not in html and "10.png" not in html
    assert driver.find_element(By.ID, "pic").get_attribute("src").endswith("/image/0")
    # The picture really loaded (naturalWidth of the served PNG).
    _wait(lambda: driver.execute_script("return document.getElementById('pic').naturalWidth") == 64)

    # Picture 1: scene_fit 4 (key 4), instance_quality 2 (w), layout_perspective 5 (g), overall 3 (c).
    _rate(driver, "4wgc", 4)
    _wait(lambda: driver.find_element(By.ID, "progress").text.startswith("Picture 2 of 4"))
    # Picture 2: only two criteria, then the browser goes away (reload = closed tab + reopened).
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("1")
    time.sleep(0.05)
    body.send_keys("z")
    _wait(lambda: _saved(driver) >= 6)
    assert not driver.find_element(By.ID, "next").is_enabled()  # incomplete: cannot move on

    driver.refresh()
    _wait(lambda: driver.find_element(By.ID, "progress").text.startswith("Picture 2 of 4 \u00b7 1 fully rated"))
    # The half-rated picture shows its saved answers.
    assert "on" in driver.find_element(By.ID, "scene_fit-1").get_attribute("class")
    assert "on" in driver.find_element(By.ID, "overall-1").get_attribute("class")
    assert "on" not in driver.find_element(By.ID, "instance_quality-1").get_attribute("class")
    # Finish picture 2 by clicking the buttons instead of keys (the reload reset the page's save counter).
    _click(driver, "instance_quality-3")
    _wait(lambda: _saved(driver) >= 1)
    _click(driver, "layout_perspective-2")
    _wait(lambda: _saved(driver) >= 2)
    _wait(lambda: driver.find_element(By.ID, "next").is_enabled())
    _click(driver, "next")
    _wait(lambda: driver.find_element(By.ID, "progress").text.startswith("Picture 3 of 4 \u00b7 2 fully rated"))

    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and {r["rater_id"] for r in rows} == {"tester"}
    got = {(r["image_id"], r["variant"], r["criterion"]): int(r["score"]) for r in rows}
    first, second = session.items[0], session.items[1]
    assert got == {
        (first.image_id, first.variant, "scene_fit"): 4,
        (first.image_id, first.variant, "instance_quality"): 2,
        (first.image_id, first.variant, "layout_perspective"): 5,
        (first.image_id, first.variant, "overall"): 3,
        (second.image_id, second.variant, "scene_fit"): 1,
        (second.image_id, second.variant, "overall"): 1,
        (second.image_id, second.variant, "instance_quality"): 3,
        (second.image_id, second.variant, "layout_perspective"): 2,
    }
    from instdiff.raters.table import read_ratings

    assert len(read_ratings(out, known_images={"10", "11"})) == 8  # the table passes its own validation
