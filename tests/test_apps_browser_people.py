"""Customer 360 and the segment builder in a real browser, on the demo store with RFM and CLV run.

One Voilà server serves the app notebooks against a published copy of the demo store (after
`cdp rfm` and `cdp clv`), with its project folder in a temporary directory so saved segments land
there; Playwright drives Debian's Chromium. Voilà answers 200 even when a cell fails, so every
test asserts what the page shows: the library's numbers in the app's format, no NaN/None/raw
dicts, messages beside their controls. Screenshots go to `reports/screenshots/`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from voila_helpers import page_opener, voila_server

from cdp_lib import Workspace
from cdp_lib.apps.base import fmt
from cdp_lib.snapshots import current_snapshot, publish

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

SCREENSHOTS = Path(__file__).resolve().parents[1] / "reports" / "screenshots"
LOAD_TIMEOUT_MS = 180_000
AS_OF = "2025-06-30"  # the demo fixture's last day
RAW = re.compile(r"\bNaN\b|\bnan\b|\bNone\b|\bNaT\b|\{'|\['|<NA>")



@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder of its own: saved segments go to its parameters/segments/."""
    root = tmp_path_factory.mktemp("people_project")
    (root / "notebooks").mkdir()
    (root / "parameters" / "segments").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def published_db(demo_store_path, project) -> Path:
    db = project / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    cdp = [str(Path(sys.executable).parent / "cdp"), "--db", str(db)]
    for args in (["rfm", "--as-of", AS_OF], ["clv", "--as-of", AS_OF]):
        done = subprocess.run(cdp + args, capture_output=True, text=True, cwd=project)
        assert done.returncode == 0, done.stderr
    publish(db)
    return db


@pytest.fixture(scope="module")
def snapshot_ws(published_db):
    ws = Workspace(current_snapshot(published_db), read_only=True)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def server(published_db, project):
    with voila_server(published_db, project, project=project) as base:
        yield base


@pytest.fixture
def open_app(server, browser):
    with page_opener(browser, server, {"width": 1400, "height": 1800}, LOAD_TIMEOUT_MS, assert_clean) as _open:
        yield _open


def assert_clean(page, errors_allowed: bool = False) -> None:
    """No traceback, no stderr output, no raw NaN/None/dict/list in what a person reads."""
    text = page.inner_text("body")
    for marker in ("Traceback", "There was an error", "Exception", "Something went wrong"):
        assert marker not in text, f"page shows {marker!r}: {text[:2000]}"
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    if not errors_allowed:
        assert page.locator(".cdp-error").count() == 0, page.locator(".cdp-error").first.inner_text()
    found = RAW.search(text)
    assert found is None, f"raw value {found.group(0)!r} shown: ...{text[max(0, found.start() - 200):found.end() + 200]}"


def wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('.cdp-loading')", timeout=LOAD_TIMEOUT_MS)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def table_rows(page, selector: str) -> list[list[str]]:
    rows = page.locator(f"{selector} tbody tr")
    return [[c.strip() for c in rows.nth(i).inner_text().split("\t")] for i in range(rows.count())]


# -- Customer 360 ---------------------------------------------------------------------------------
def test_customer360_search_card_timeline_orders(open_app, snapshot_ws):
    from cdp_lib.apps.customer360 import orders_frame, timeline_frame
    from cdp_lib.customer360 import customer_360
    from cdp_lib.kpi import latest_event_day
    from cdp_lib.customer360.search import label, search_profiles

    page = open_app("customer360", "input[type='text']")
    # A repeat buyer with an email and CLV results; search by the start of their email's local part.
    preds = snapshot_ws.table("clv_predictions")
    p = snapshot_ws.profiles
    person = (p.filter(p.email.notnull() & p.timezone.notnull())
              .join(preds.filter(preds.historic_orders >= 3), "profile_id")
              .order_by("profile_id").select("profile_id", "email").limit(1).execute().iloc[0])
    text = person["email"].split("@")[0][:-1].upper()  # partial, and in capitals
    expected = search_profiles(snapshot_ws, text)
    assert person["profile_id"] in expected.rows.profile_id.tolist()
    page.locator("input[type='text']").first.fill(text)
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector(".cdp-card[data-fact='orders']", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    assert_clean(page)
    assert page.locator(".cdp-search-note").inner_text() == expected.message
    options = [o.replace("\xa0", " ") for o in page.locator("select").first.locator("option").all_inner_texts()]
    labels = [label(r) for r in expected.rows.to_dict("records")]
    assert options == labels
    page.locator("select").first.select_option(label=labels[expected.rows.profile_id.tolist().index(person["profile_id"])])
    page.wait_for_function(
        f"() => document.body.innerText.includes('{person['profile_id']}') && "
        "!document.querySelector('.cdp-loading')", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    assert_clean(page)
    c = customer_360(snapshot_ws, person["profile_id"], as_of=latest_event_day(snapshot_ws), recent_days=90)
    fact = lambda key: page.locator(f".cdp-card[data-fact='{key}'] .cdp-value").inner_text()  # noqa: E731
    assert fact("historic_clv") == fmt(c.historic_clv, 2) and c.historic_clv is not None
    assert fact("predicted_clv") == fmt(c.predicted_clv, 2) and c.predicted_clv is not None
    assert fact("churn_probability") == f"{c.churn_probability:.0%} ({c.churn_risk})"
    assert fact("rfm_group") == c.rfm_group and c.rfm_group
    assert fact("consent_email") == c.consent["email"] and fact("consent_sms") == c.consent["sms"]
    assert fact("orders") == fmt(c.orders) and fact("revenue") == fmt(c.revenue, 2)
    assert page.locator(".cdp-timezone").inner_text() == f"Times in the customer's local time ({c.timezone})"
    orders = orders_frame(c)
    shown = table_rows(page, ".cdp-orders")
    assert len(shown) == len(orders) == min(c.orders, 50)
    first = orders.iloc[0]
    assert shown[0][:3] == [first.Placed, fmt(first.Order), fmt(first.Amount, 2)]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d [A-Z]{3,4}", shown[0][0])  # local time with its zone
    timeline = timeline_frame(c)
    shown = table_rows(page, ".cdp-timeline")
    ev = snapshot_ws.events
    assert len(shown) == len(timeline) == min(50, int(ev.filter(ev.profile_id == person["profile_id"]).count().execute()))
    assert [r[:2] for r in shown] == timeline[["Time", "Activity"]].values.tolist()
    screenshot(page, "customer360")

    page.locator("input[type='text']").first.fill("zz-nobody-zz")
    page.get_by_role("button", name="Search").click()
    page.wait_for_function("() => document.body.innerText.includes(\"No one's name, email\")", timeout=LOAD_TIMEOUT_MS)
    note = page.locator(".cdp-error").inner_text()
    assert note == "No one's name, email, phone or id matches 'zz-nobody-zz'."
    assert page.locator(".cdp-card").count() == 0  # the previous card is not left standing
    assert_clean(page, errors_allowed=True)
    screenshot(page, "customer360_no_match")


# -- segment builder ------------------------------------------------------------------------------
def _members(page) -> str:
    return page.locator(".cdp-members").inner_text()


def _wait_members(page, expected: str) -> None:
    try:
        page.wait_for_function(
            f"() => document.querySelector('.cdp-members') && "
            f"document.querySelector('.cdp-members').innerText === '{expected}' && !document.querySelector('.cdp-loading')",
            timeout=LOAD_TIMEOUT_MS)
    except Exception:
        screenshot(page, "segment_builder_failed")  # what the page showed instead, for review
        raise AssertionError(f"expected {expected} members; the page shows: {page.inner_text('body')[:3000]}") from None


def _type(locator, text: str) -> None:
    locator.fill(text)
    locator.press("Enter")


def test_segment_builder_nested_groups_counts_export_and_save(open_app, snapshot_ws, project):
    from cdp_lib.segments import builder as b
    from cdp_lib.segments import count_members, load_definition, members_table

    page = open_app("segment_builder", ".cdp-members")
    n = lambda d: fmt(count_members(snapshot_ws, d, None, {}))  # noqa: E731  (the app counts as of today)
    base = {"name": "New segment", "match": "all", "conditions": [{"metric": "Placed Order", "count": {"op": ">=", "value": 1}}]}
    _wait_members(page, n(base))

    # a negative count is refused beside its box, and no stale count stays on the page
    _type(page.locator(".cdp-row-1 .cdp-count input"), "-2")
    page.wait_for_selector(".cdp-row-1 .cdp-row-error", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    assert page.locator(".cdp-row-1 .cdp-row-error").inner_text() == "The number of times cannot be negative; type 0 or more"
    assert page.locator(".cdp-members").count() == 0
    screenshot(page, "segment_builder_negative_count")
    _type(page.locator(".cdp-row-1 .cdp-count input"), "2")
    two = {**base, "conditions": [{"metric": "Placed Order", "count": {"op": ">=", "value": 2}}]}
    _wait_members(page, n(two))
    assert page.locator(".cdp-row-error").count() == 0

    # a new row, and a property row with an empty value, apply no filter
    page.locator(".cdp-group-1 > .widget-hbox .cdp-add-row").last.click()
    page.wait_for_selector(".cdp-row-3", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    assert _members(page) == n(two)
    page.locator(".cdp-row-3 .cdp-kind select").select_option(label="profile property")
    page.locator(".cdp-row-3 .cdp-profile-property select").select_option(label="country")
    page.wait_for_selector(".cdp-row-3 .cdp-row-note", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    assert page.locator(".cdp-row-3 .cdp-row-note").inner_text() == "Not applied yet: type a value"
    assert _members(page) == n(two)
    # suggestions from the data in the value box
    suggestions = page.locator(".cdp-row-3 .cdp-value datalist option")
    assert suggestions.count() > 0 and suggestions.first.get_attribute("value") == b.value_suggestions(snapshot_ws, "country")[0]

    # a nested OR group: (country is CA or can receive SMS)
    page.locator(".cdp-group-1 > .widget-hbox .cdp-add-group").last.click()
    page.wait_for_selector(".cdp-group-2 .cdp-row-4", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    page.locator(".cdp-group-2 .cdp-match button", has_text="OR (any)").click()
    page.locator(".cdp-row-4 .cdp-kind select").select_option(label="profile property")
    page.locator(".cdp-row-4 .cdp-profile-property select").select_option(label="country")
    # suggestions for the chosen property arrive (the kernel has handled the choice)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.cdp-row-4 .cdp-value datalist option')].some(o => o.value === 'CA')",
        timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)
    _type(page.locator(".cdp-row-4 .cdp-value input"), "CA")
    page.locator(".cdp-group-2 .cdp-add-row").click()
    page.wait_for_selector(".cdp-row-5", timeout=LOAD_TIMEOUT_MS)
    page.locator(".cdp-row-5 .cdp-kind select").select_option(label="can receive")
    page.locator(".cdp-row-5 .cdp-channel select").select_option(label="SMS")
    nested = {**two, "conditions": [*two["conditions"], {"any": [
        {"property": "country", "op": "equals", "value": "CA"}, {"can_receive": "sms"}]}]}
    _wait_members(page, n(nested))
    assert_clean(page)
    reach = b.reach_counts(snapshot_ws, members_table(snapshot_ws, nested, None, {}))
    assert page.locator(".cdp-reach-email").inner_text() == fmt(reach["email"])
    assert page.locator(".cdp-reach-sms").inner_text() == fmt(reach["sms"])
    assert int(reach["members"]) > 0 and reach["sms"] <= reach["members"]
    description = page.locator(".cdp-description").inner_text()
    assert [line.strip() for line in description.splitlines()] == [line.strip() for line in b.describe(nested)]
    screenshot(page, "segment_builder_nested")

    # export the members as CSV
    page.locator(".cdp-export").click()
    page.wait_for_selector("a.cdp-download", timeout=LOAD_TIMEOUT_MS)
    assert page.locator("a.cdp-download").inner_text() == f"Download new_segment.csv ({n(nested)} people)"

    # save into the project's parameters/segments/, shown in words
    name = page.locator(".cdp-name input")
    name.fill("Browser nested")
    name.press("Tab")
    page.locator(".cdp-save").click()
    page.wait_for_selector(".cdp-saved", timeout=LOAD_TIMEOUT_MS)
    path = project / "parameters" / "segments" / "browser_nested.yaml"
    assert page.locator(".cdp-saved b").inner_text() == f"Saved to {path}"
    assert load_definition(path).raw["conditions"] == nested["conditions"]
    saved_words = page.locator(".cdp-saved-description").inner_text()
    assert saved_words.splitlines()[0] == "Browser nested: people who match ALL of"
    assert_clean(page)
    screenshot(page, "segment_builder_saved")
