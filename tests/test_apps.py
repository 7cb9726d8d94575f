"""Apps at widget level (no browser): set widget values, compare what is shown with the library."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from cdp_lib.apps import KpiApp
from cdp_lib.apps.base import fmt
from cdp_lib.kpi import kpi_breakdown, kpi_overview
from cdp_lib.snapshots import publish
from cdp_lib.testing import workspace_from_frames

EVENTS = [
    ("a", "Created Account", "2025-02-20T08:00:00", None),
    ("b", "Created Account", "2025-03-03T08:00:00", None),
    ("c", "Created Account", "2025-03-10T08:00:00", None),
    ("a", "Clicked Help", "2025-03-09T12:00:00", None),
    ("b", "Tracked Order", "2025-03-05T12:00:00", None),
    ("a", "Placed Order", "2025-03-09T10:00:00", 100.0),
    ("c", "Placed Order", "2025-03-11T10:00:00", 50.0),
    ("b", "Placed Order", "2025-03-05T10:00:00", 30.0),
]


def _events(rows=EVENTS) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["profile_id", "metric", "timestamp", "value"])
    df.insert(0, "event_id", [f"e{i}" for i in range(len(df))])
    return df


@pytest.fixture
def ws():
    w = workspace_from_frames(events=_events())
    yield w
    w.close()


def shown_cards(app: KpiApp) -> dict[str, tuple[str, str, str]]:
    """metric -> (value, change, previous) exactly as the cards display them."""
    cards = re.findall(
        r'data-metric="([^"]+)".*?cdp-value">([^<]*)<.*?cdp-change ([a-z-]+)">([^<]*)<.*?cdp-previous">([^<]*)<',
        app.cards.value,
    )
    return {m: (v, change, css, prev) for m, v, css, change, prev in cards}


def test_kpi_app_opens_on_the_last_30_days_of_data(ws):
    app = KpiApp(workspace=ws)
    assert app.error is None
    assert (app.start.value, app.end.value) == (dt.date(2025, 2, 10), dt.date(2025, 3, 11))
    assert "compared with <b>2025-01-11 – 2025-02-09</b>" in app.comparison.value
    assert app.status.value == ""  # the loading line is gone once rendered


def test_kpi_app_shows_the_library_numbers_for_the_picked_range(ws):
    app = KpiApp(workspace=ws)
    app.start.value = dt.date(2025, 3, 8)
    app.end.value = dt.date(2025, 3, 14)
    assert app.preset.value == "Custom" and app.error is None
    expected = kpi_overview(ws, "2025-03-08", "2025-03-14")
    cards = shown_cards(app)
    assert list(cards) == expected["metric"].tolist()
    for row in expected.itertuples():
        decimals = 2 if row.metric in {"Revenue", "Average order value", "Revenue from account-page adds"} else 0
        value, change, css, previous = cards[row.metric]
        assert value == fmt(row.value, decimals) and previous == fmt(row.previous, decimals)
    # Hand-checked: revenue 150 vs 30 (+400%, green); service interactions 1 vs 1 (flat).
    assert cards["Revenue"] == ("150.00", "▲ +400.0%", "cdp-up-good", "30.00")
    assert cards["Average order value"] == ("75.00", "▲ +150.0%", "cdp-up-good", "30.00")
    assert cards["Service interactions"] == ("1", "→ +0.0%", "cdp-flat", "1")
    pd.testing.assert_frame_equal(app.breakdown, kpi_breakdown(ws, "2025-03-08", "2025-03-14"))
    assert app.series["value"].tolist() == [100.0, 50.0]
    assert app.breakdown_chart.value[:4] == b"\x89PNG"


def test_kpi_app_marks_bad_news_red(ws):
    app = KpiApp(workspace=ws)
    app.start.value, app.end.value = dt.date(2025, 3, 1), dt.date(2025, 3, 7)
    # 1 service interaction against 0 before: a rise, and bad news.
    assert shown_cards(app)["Service interactions"][2] == "cdp-up-bad"
    app.start.value, app.end.value = dt.date(2025, 3, 8), dt.date(2025, 3, 14)
    assert shown_cards(app)["New accounts"][2] == "cdp-flat"


def test_kpi_app_preset_sets_the_dates(ws):
    app = KpiApp(workspace=ws)
    app.preset.value = "Last 7 days"
    assert (app.start.value, app.end.value) == (dt.date(2025, 3, 5), dt.date(2025, 3, 11))
    assert shown_cards(app)["Revenue"][0] == "180.00"


def test_kpi_app_shows_input_errors_instead_of_failing(ws):
    app = KpiApp(workspace=ws)
    app.start.value = dt.date(2025, 3, 20)  # after the end date
    assert "is before its start" in app.status.value and "cdp-error" in app.status.value
    assert not any(c.disabled for c in app.controls)  # controls usable again after a failure


def test_apps_read_the_published_snapshot_and_follow_new_ones(tmp_path):
    db = tmp_path / "cdp.duckdb"
    w = workspace_from_frames(str(db), events=_events())
    w.close()
    publish(db)
    app = KpiApp(db=db)
    app.preset.value = "Last 7 days"
    assert shown_cards(app)["Orders"][0] == "3"
    w = workspace_from_frames(str(db), events=_events(EVENTS + [("d", "Placed Order", "2025-03-10T10:00:00", 20.0)]))
    w.close()
    app.refresh()
    assert shown_cards(app)["Orders"][0] == "3"  # not published yet: the app keeps its snapshot
    publish(db)
    app.refresh()
    assert shown_cards(app)["Orders"][0] == "4"
    app.close()
