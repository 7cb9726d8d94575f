"""The Voila apps in a real browser: each loads, shows no error, reacts, and shows library numbers.

The RFM explorer, funnel explorer and KPI app are in tests/test_apps_browser_explorers.py.

One Voila server per module serves every app notebook against a published copy of the demo
store; Playwright drives Debian's Chromium (`make browser` installs it). Screenshots go to
`test-output/` at the repository root.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from voila_helpers import page_opener, voila_server

from cdp_lib import Workspace
from cdp_lib.apps.base import fmt
from cdp_lib.customer360 import customer_360
from cdp_lib.kpi import latest_event_day
from cdp_lib.snapshots import current_snapshot, publish

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
LOAD_TIMEOUT_MS = 120_000



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
    with voila_server(published_db, published_db.parent, start_timeout=60) as base:
        yield base


@pytest.fixture
def open_app(server, browser):
    with page_opener(browser, server, {"width": 1280, "height": 1000}, LOAD_TIMEOUT_MS, assert_no_error) as _open:
        yield _open


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
