"""report.html in a real headless browser (Debian's chromium and chromium-driver, driven by
Selenium): it renders every node, a click shows the node's details, and the console stays clean.

Skipped when the browser is not installed, unless TREX_REQUIRE_BROWSER=1 (.ci/run installs it
and sets that, so CI cannot skip it silently)."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.report_run import make_run
from trex.track.html_report import write_report

BROWSER, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (BROWSER and DRIVER) and os.environ.get("TREX_REQUIRE_BROWSER") != "1":
    pytest.skip("chromium and chromium-driver are not installed (apt install chromium chromium-driver)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert BROWSER and DRIVER, "TREX_REQUIRE_BROWSER=1 but chromium or chromedriver is missing"
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_renders_every_node_and_a_click_shows_its_details(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    tree = make_run(tmp_path, hostile="</script><script>document.title='pwned'</script>")
    browser.get((write_report(tmp_path)).as_uri())
    assert browser.title == f"trex · {tmp_path.name}"            # the hostile objective ran nothing
    drawn = {g.get_attribute("data-id") for g in browser.find_elements(By.CSS_SELECTOR, "#tree-svg g.node")}
    assert drawn == {n.id for n in tree}
    edges = {(e.get_attribute("data-from"), e.get_attribute("data-to"))
             for e in browser.find_elements(By.CSS_SELECTOR, "#tree-svg path.edge")}
    assert edges == {(n.parent_id, n.id) for n in tree if n.parent_id}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tree-svg path.edge.lineage")) == 2
    assert "failed" in browser.find_element(By.CSS_SELECTOR, 'g.node[data-id="n0002"]').get_attribute("class")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#knobs-svg polyline")) == 2   # the two scored experiments

    browser.find_element(By.CSS_SELECTOR, 'g.node[data-id="n0001"]').click()
    details = browser.find_element(By.ID, "details")
    assert details.get_attribute("data-node") == "n0001"
    text = details.text
    assert "n0001 · SUCCEEDED" in text and "higher learning rate" in text
    assert "train.learning_rate" in text and "0.0002000 → 0.001000" in text
    assert "test exact_match 0.380" in text and "3/6 wrong" in text
    assert "Training loss" in text and "Wrong" in text and "Right" in text
    assert len(details.find_elements(By.TAG_NAME, "polyline")) == 1             # the loss curve

    browser.find_element(By.CSS_SELECTOR, 'g.node[data-id="n0002"]').click()
    assert "out of memory" in browser.find_element(By.ID, "details").text
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
