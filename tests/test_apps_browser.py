"""The Voila apps in a real browser: each loads, shows no error, reacts, and shows library numbers.

The RFM explorer, funnel explorer and KPI app are in tests/test_apps_browser_explorers.py.

One Voila server per module serves every app notebook against a published copy of the demo
store; Playwright drives Debian's Chromium (`make browser` installs it). Screenshots go to
`test-output/` at the repository root.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from cdp_lib import Workspace
from cdp_lib.apps.base import fmt
from cdp_lib.apps.serve import voila_command, voila_env
from cdp_lib.customer360 import customer_360
from cdp_lib.kpi import latest_event_day
from cdp_lib.snapshots import current_snapshot, publish

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
LOAD_TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def published_db(demo_store_path, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("apps_browser") / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    publish(db)
    return db


@pytest.fixture(scope="module")
def snapshot_ws(published_db):
    """The same snapshot the apps read, for the library's answers."""
    ws = Workspace(current_snapshot(published_db), read_only=True)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def server(published_db):
    port = _free_port()
    log = open(published_db.parent / "voila.log", "w")
    proc = subprocess.Popen(
        voila_command(None, port=port), env=voila_env(published_db), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, cwd=published_db.parent,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGTERM)
                log.close()
                pytest.fail(f"voila did not start: {(published_db.parent / 'voila.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()




@pytest.fixture
def open_app(server, browser):
    pages = []

    def _open(name: str, ready: str):
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        pages.append(page)
        response = page.goto(f"{server}/voila/render/{name}.ipynb", timeout=LOAD_TIMEOUT_MS)
        assert response.status == 200
        page.wait_for_selector(ready, timeout=LOAD_TIMEOUT_MS)
        assert_no_error(page)
        return page

    yield _open
    for p in pages:
        p.close()


def assert_no_error(page) -> None:
    """A failing Voila cell still answers 200: check what the page shows."""
    text = page.inner_text("body")
    for marker in ("Traceback", "Error", "There was an error", "Exception"):
        assert marker not in text, f"page shows {marker!r}: {text[:2000]}"
    assert page.locator(".cdp-error").count() == 0
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


def wait_idle(page) -> None:
    """Wait until the app's loading line is gone (its re-render finished)."""
    page.wait_for_function("() => !document.querySelector('.cdp-loading')", timeout=LOAD_TIMEOUT_MS)


def screenshot(page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def test_customer360_app(open_app, snapshot_ws):
    page = open_app("customer360", "input[type='text']")
    # The buyer of the newest order: recent views and purchases to show.
    ev, p = snapshot_ws.events, snapshot_ws.profiles
    orders = ev.filter(ev.metric == "Placed Order")
    buyers = orders.join(p.filter(p.email.notnull()), "profile_id").order_by(orders.timestamp.desc())
    person = buyers.select("profile_id", "email").limit(1).execute().iloc[0]
    page.locator("input[type='text']").first.fill(person["email"].upper())
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector(".cdp-card[data-fact='orders']", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    assert_no_error(page)
    c = customer_360(snapshot_ws, person["profile_id"], as_of=latest_event_day(snapshot_ws), recent_days=90)
    fact = lambda key: page.locator(f".cdp-card[data-fact='{key}'] .cdp-value").inner_text()  # noqa: E731
    assert fact("orders") == fmt(c.orders)
    assert fact("revenue") == fmt(c.revenue, 2)
    assert fact("preferred_channel") == fmt(c.preferred_channel)
    assert fact("last_purchase_channel") == fmt(c.last_purchase_channel)
    assert person["profile_id"] in page.inner_text("body")
    screenshot(page, "customer360")


def test_segment_builder_app(open_app, snapshot_ws):
    from cdp_lib.segments import count_members

    page = open_app("segment_builder", ".cdp-members")
    # Row 1 is "did Placed Order >= 1 times": make it ">= 3 times".
    count_box = page.locator(".widget-hbox").nth(0).locator("input[type='number']").first
    count_box.fill("3")
    count_box.press("Enter")
    want = {"name": "New segment", "match": "all",
            "conditions": [{"metric": "Placed Order", "count": {"op": ">=", "value": 3}}]}
    expected = fmt(count_members(snapshot_ws, want))
    page.wait_for_function(
        f"() => document.querySelector('.cdp-members').innerText === '{expected}'", timeout=LOAD_TIMEOUT_MS
    )
    wait_idle(page)
    assert_no_error(page)
    assert page.locator("table.cdp-table tbody tr").count() == 10
    screenshot(page, "segment_builder")
