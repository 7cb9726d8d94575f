"""The RFM explorer, funnel explorer and KPI app in a real browser, on the demo store.

Each test opens the app as a person would, uses each feature (click a transition, save a segment,
change the comparison, type an invalid range) and checks what the page shows against the library:
formatted numbers, charts present, no NaN/None/raw dicts, messages next to the controls. Voila
answers 200 even when a cell fails, so only the page's content counts. Screenshots go to
`reports/screenshots/` (ignored by git). Saved segments go to a project folder of the test's own
(`CDP_PROJECT_DIR`), never to the checkout's `parameters/segments/`.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from voila_helpers import page_opener, voila_server

from cdp_lib import Workspace
from cdp_lib.apps.base import fmt
from cdp_lib.kpi import latest_event_day
from cdp_lib.snapshots import current_snapshot, publish

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

SCREENSHOTS = Path(__file__).resolve().parents[1] / "reports" / "screenshots"
LOAD_MS = 180_000
RAW = re.compile(r"\bNaN\b|\bnan\b|\bNone\b|\bNaT\b|\{'|\['|<NA>")



@pytest.fixture(scope="module")
def store(demo_store_path, tmp_path_factory):
    """A published copy of the demo store and a project folder for saved segments."""
    root = tmp_path_factory.mktemp("explorers_browser")
    db = root / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    publish(db)
    project = root / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "parameters" / "segments").mkdir(parents=True)
    return db, project


@pytest.fixture(scope="module")
def snapshot_ws(store):
    ws = Workspace(current_snapshot(store[0]), read_only=True)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def server(store):
    db, project = store
    with voila_server(db, db.parent, project=project) as base:
        yield base


def _loaded(page) -> None:
    wait_idle(page)
    assert_clean(page)


@pytest.fixture
def open_app(server, browser):
    # tall enough for the whole app: Voila scrolls inside the page, so a full-page shot stops at the viewport
    with page_opener(browser, server, {"width": 1400, "height": 3600}, LOAD_MS, _loaded) as _open:
        yield _open


def wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('.cdp-loading')", timeout=LOAD_MS)


def assert_clean(page) -> None:
    """No error, no traceback, no raw Python values on the page."""
    text = page.inner_text("body")
    for marker in ("Traceback", "Error", "There was an error", "Exception"):
        assert marker not in text, f"page shows {marker!r}: {text[:2000]}"
    assert page.locator(".cdp-error").count() == 0
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    raw = RAW.search(text)
    assert raw is None, f"raw value {raw.group(0)!r} on the page: ...{text[max(0, raw.start() - 200):raw.end() + 200]}"


def charts_drawn(page, selector: str = ".widget-image") -> int:
    """How many image widgets show a decoded picture."""
    return page.evaluate(f"""() => [...document.querySelectorAll('{selector}')]
        .filter(i => i.complete && i.naturalWidth > 0).length""")


def select(page, label: str):
    """The <select> of the ipywidgets dropdown described by `label`."""
    return page.locator(f".widget-dropdown:has(label:text-is('{label}')) select")


def date_input(page, label: str):
    return page.locator(f".widget-datepicker:has(label:text-is('{label}')) input")


def set_date(page, label: str, day: dt.date) -> None:
    box = date_input(page, label)
    box.fill(f"{day:%Y-%m-%d}")
    box.dispatch_event("change")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"app_{name}.png"), full_page=True)


def test_rfm_explorer_click_a_transition_and_save_it(open_app, snapshot_ws, store):
    from cdp_lib.rfm import GROUP_ORDER, rfm_change
    from cdp_lib.segments import count_members, load_definition, refresh

    page = open_app("rfm", ".cdp-transition")
    end = latest_event_day(snapshot_ws)
    change = rfm_change(snapshot_ws, end - dt.timedelta(days=90), end)
    dist = change.distribution.execute().set_index("rfm_group")
    first_table = page.locator("table.cdp-table").first.inner_text()
    for group, row in dist.iterrows():  # formatted with thousands separators
        assert f"{group}\t{fmt(int(row.customers_start))}\t{fmt(int(row.customers_end))}" in first_table
    assert charts_drawn(page) >= 3  # distribution, change, revenue share
    assert "revenue_share_pct" in page.inner_text("body")
    moves = change.transitions.execute()
    moves = moves[(moves.from_group != moves.to_group) & moves.from_group.isin(GROUP_ORDER)
                  & moves.to_group.isin(GROUP_ORDER)].sort_values(["customers", "from_group"], ascending=[False, True])
    top = moves.iloc[0]
    tooltip = f"{top.from_group} → {top.to_group}: {fmt(int(top.customers))} customers"
    page.locator(f"button[title='{tooltip}']").click()
    page.wait_for_function(
        f"() => document.querySelector('.cdp-people') && document.querySelector('.cdp-people').innerText === "
        f"'{fmt(int(top.customers))}'", timeout=LOAD_MS)
    assert page.locator("a.cdp-download").count() == 2  # the transition's and the group's CSV
    name = page.locator("input[placeholder='segment name']")
    name.fill("Browser movers")
    page.get_by_role("button", name="Save as segment").click()
    page.wait_for_selector(".cdp-saved", timeout=LOAD_MS)
    assert_clean(page)
    saved = store[1] / "parameters" / "segments" / "browser_movers.yaml"
    assert saved.exists() and f"It has {fmt(int(top.customers))} members now." in page.inner_text(".cdp-saved")
    d = load_definition(saved)
    assert count_members(snapshot_ws, d) == int(top.customers)
    shutil.copyfile(store[0], store[0].parent / "refresh.duckdb")  # `cdp segment refresh` accepts it
    with Workspace(store[0].parent / "refresh.duckdb") as w:
        out = refresh(w, folder=str(store[1] / "parameters" / "segments"))
    assert int(out.set_index("segment").loc["Browser movers", "members"]) == int(top.customers)
    screenshot(page, "rfm_transition_saved")
    # as a rule on the RFM attributes: saved, and the page says they need a `cdp rfm` run first
    page.get_by_role("button", name="rule (follows cdp rfm)").click()
    name.fill("Browser movers rule")
    page.get_by_role("button", name="Save as segment").click()
    page.wait_for_function("() => document.querySelector('.cdp-saved') && "
                           "document.querySelector('.cdp-saved').innerText.includes('Browser movers rule')",
                           timeout=LOAD_MS)
    assert "It has no members yet" in page.inner_text(".cdp-saved") and "run 'cdp rfm' first" in \
        page.inner_text(".cdp-saved")
    rule = load_definition(store[1] / "parameters" / "segments" / "browser_movers_rule.yaml")
    assert [c["value"] for c in rule.conditions] == [top.to_group, top.from_group]
    # an end date before the start: said next to the dates, nothing stale left
    set_date(page, "End", end - dt.timedelta(days=120))
    page.wait_for_selector(".cdp-error", timeout=LOAD_MS)
    wait_idle(page)
    message = page.inner_text(".cdp-error")
    assert f"Start {end - dt.timedelta(days=90):%Y-%m-%d} is after End {end - dt.timedelta(days=120):%Y-%m-%d}" in message
    assert page.locator(".cdp-transition").count() == 0 and page.locator(".cdp-people").count() == 0
    screenshot(page, "rfm_invalid_range")


def test_funnel_explorer_comparison_drop_outs_and_exclusion(open_app, snapshot_ws, store):
    import ibis

    from cdp_lib.funnel import funnel_frame, funnel_params, funnel_people_table
    from cdp_lib.funnel.explore import compare_steps, dropped_at_step_table
    from cdp_lib.periods import comparison_period

    page = open_app("funnel", "table.cdp-table")
    end = latest_event_day(snapshot_ws)
    start = end - dt.timedelta(days=29)
    steps = ["Viewed Product", "Added to Cart", "Started Checkout", "Placed Order"]
    params = funnel_params(steps, "7d", start, end)
    now = funnel_frame(snapshot_ws, params)
    select(page, "Compare").select_option(label="previous period")
    c_start, c_end = comparison_period(start, end)
    page.wait_for_function(f"() => document.body.innerText.includes('{c_start:%Y-%m-%d} – {c_end:%Y-%m-%d}')",
                           timeout=LOAD_MS)
    wait_idle(page)
    assert_clean(page)
    compared = compare_steps(now, funnel_frame(snapshot_ws, funnel_params(steps, "7d", c_start, c_end)))
    table = page.locator("table.cdp-table").first.inner_text()
    for row in compared.itertuples():
        assert (f"{row.step}\t{row.metric}\t{fmt(int(row.profiles))}\t{fmt(100 * row.conversion_from_start, 1)}"
                in table), row
        assert f"{fmt(int(row.profiles_compared))}\t{fmt(100 * row.conversion_from_start_compared, 1)}\t" \
               f"{fmt(row.change_points, 1)}" in table
    assert charts_drawn(page) >= 2  # the funnel and the comparison
    people = funnel_people_table(snapshot_ws, params).execute()
    dropped = dropped_at_step_table(snapshot_ws, ibis.memtable(people), 2, 4).execute()
    select(page, "Dropped").select_option(index=1)  # after step 2 (did not reach step 3)
    page.wait_for_function(f"() => document.querySelector('.cdp-people').innerText === '{fmt(len(dropped))}'",
                           timeout=LOAD_MS)
    assert "Download" in page.inner_text("a.cdp-download")
    page.locator("input[placeholder='segment name']").fill("Carts without checkout")
    page.get_by_role("button", name="Save as segment").click()
    page.wait_for_selector(".cdp-saved", timeout=LOAD_MS)
    assert (store[1] / "parameters" / "segments" / "carts_without_checkout.yaml").exists()
    screenshot(page, "funnel_comparison_dropouts")
    select(page, "Compare").select_option(label="no comparison")
    select(page, "Breakdown").select_option(label="channel")
    # the table's first column is the breakdown once the funnel is recomputed
    page.wait_for_function("() => { const th = document.querySelector('table.cdp-table th');"
                           " return th && th.innerText === 'channel'; }", timeout=LOAD_MS)
    wait_idle(page)
    assert_clean(page)
    page.wait_for_function("() => [...document.querySelectorAll('.widget-image')]"
                           ".filter(i => i.complete && i.naturalWidth > 0).length >= 2", timeout=LOAD_MS)
    screenshot(page, "funnel_breakdown")
    select(page, "Exclude").select_option(label="Clicked Help")
    wait_idle(page)
    select(page, "after step").select_option(label="4")
    page.wait_for_selector(".cdp-error", timeout=LOAD_MS)
    assert "pick steps with after < before, both from 1 to 4" in page.inner_text(".cdp-error")
    assert page.locator("table.cdp-table").count() == 0
    screenshot(page, "funnel_invalid_exclusion")


def test_kpi_app_comparison_sparklines_attribution_and_invalid_dates(open_app, snapshot_ws):
    from cdp_lib.apps.kpi import money
    from cdp_lib.kpi import kpi_overview
    from cdp_lib.kpi.views import channel_revenue_overview
    from cdp_lib.kpi import Period

    page = open_app("kpi", ".cdp-card")
    end = latest_event_day(snapshot_ws)
    start = end - dt.timedelta(days=29)
    select(page, "Compare with").select_option(label="same period last year")
    page.wait_for_function("() => document.body.innerText.includes('(same period last year)')", timeout=LOAD_MS)
    wait_idle(page)
    assert_clean(page)
    expected = kpi_overview(snapshot_ws, start, end, comparison="last_year")
    period = Period(start, end)
    channels, _ = channel_revenue_overview(snapshot_ws, period, period.compared("last_year"))
    money_cards = {"Revenue", "Average order value", "Revenue from account-page adds"}
    for row in [*expected.itertuples(), *channels.itertuples()]:
        card = page.locator(f".cdp-card[data-metric='{row.metric}']")
        show = money if row.metric in money_cards or "attributed" in row.metric else (lambda v: fmt(v, 0))
        assert card.locator(".cdp-value").inner_text() == show(row.value), row.metric
        assert card.locator(".cdp-previous").inner_text() == show(row.previous), row.metric
    assert page.locator(".cdp-card[data-metric='Email-attributed revenue'] .cdp-value").inner_text().startswith("$")
    assert charts_drawn(page, "img.cdp-spark") >= 8  # a trend line on the cards
    assert charts_drawn(page) >= 2  # breakdown and AOV over time
    assert "credited to the person's latest email or SMS interaction" in page.inner_text(".cdp-attribution")
    screenshot(page, "kpi_last_year")
    set_date(page, "To", dt.date.today() + dt.timedelta(days=30))
    page.wait_for_selector(".cdp-error", timeout=LOAD_MS)
    wait_idle(page)
    assert "is in the future" in page.inner_text(".cdp-error")
    assert page.locator(".cdp-card").count() == 0  # stale cards cleared (monitors show none on this store)
    screenshot(page, "kpi_invalid_date")
