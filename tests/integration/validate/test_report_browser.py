"""The validation report in a real browser (Debian's headless Chromium): it renders, and fetches nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import ORDERS_CONFIG, make_orders
from playwright.sync_api import sync_playwright

from components.common.config import parse_use_case
from components.validate.logic import duplicate_fraction, infer_schema, statistics_in_process, validate_statistics
from components.validate.report import render_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic off, and no host name resolves: nothing can leave the machine.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
LOCAL = ("data:", "blob:", "about:")


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    config = parse_use_case(ORDERS_CONFIG)
    schema = infer_schema(statistics_in_process({"all": make_orders(6000, seed=9)}), config)
    frames = {"train": make_orders(seed=1), "eval": make_orders(seed=2).assign(coupon="x"), "test": make_orders(seed=3)}
    duplicates = {s: duplicate_fraction([f]) for s, f in frames.items()}
    result = validate_statistics(
        statistics_in_process(frames), schema, config, "ds-0123456789abcdef", None, None, duplicates
    )
    path = tmp_path_factory.mktemp("report") / "validation.html"
    path.write_text(render_report(result, "shop"))
    return path


def open_page(browser, path: Path):
    """Opens a file; returns the page and every URL the page asked for, beyond the file itself."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page.on("websocket", lambda socket: requested.append(socket.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(500)  # requests fired by timers after load
    return page, [url for url in requested if url != path.as_uri() and not url.startswith(LOCAL)]


def test_report_renders_features_charts_and_anomalies_without_any_request(browser, report_file):
    page, requested = open_page(browser, report_file)
    assert requested == []
    text = page.locator("body").inner_text()
    for feature in ("quantity", "price", "channel", "ordered_at", "returned"):
        assert feature in text
    charts = page.locator("svg.chart")
    assert charts.count() == 7
    for index in range(charts.count()):
        width, height = charts.nth(index).evaluate("e => [e.clientWidth, e.clientHeight]")
        assert charts.nth(index).is_visible() and width > 0 and height > 0
        assert charts.nth(index).locator("polyline, rect").count() > 0, "a chart without marks"
    anomalies = page.locator("table#anomalies")
    assert anomalies.is_visible() and "SCHEMA_NEW_COLUMN" in anomalies.inner_text()
    assert page.locator("#verdict").inner_text().startswith("INVALID")


def test_the_request_check_sees_a_page_that_calls_out(browser, report_file, tmp_path):
    """The control: the same check must catch a report that loads anything from a CDN."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        report_file.read_text().replace("</body>", '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script></body>')
    )
    _, requested = open_page(browser, leaky)
    assert requested == ["https://cdn.jsdelivr.net/npm/vega@5"]
