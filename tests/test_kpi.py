"""KPI overview against values computed by hand on a small event log.

Period under test: 2025-03-08..2025-03-14 (7 days); comparison: 2025-03-01..2025-03-07.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cdp_lib import InputError
from cdp_lib.kpi import ACCOUNT_DASHBOARD, Kpi, Period, kpi_breakdown, kpi_overview, kpi_series
from cdp_lib.testing import workspace_from_frames

START, END = "2025-03-08", "2025-03-14"

EVENTS = [
    # profile, metric, timestamp, value, product, source
    ("a", "Created Account", "2025-02-20T08:00:00", None, None, None),
    ("b", "Created Account", "2025-03-03T08:00:00", None, None, None),
    ("c", "Created Account", "2025-03-10T08:00:00", None, None, None),
    ("e", "Created Account", "2025-03-14T23:59:59", None, None, None),  # last second: inside
    ("d", "Created Account", "2025-03-15T00:00:00", None, None, None),  # first second after
    ("a", "Tracked Order", "2025-03-08T00:00:00", None, None, None),
    ("b", "Clicked Help", "2025-03-09T12:00:00", None, None, None),
    ("b", "Clicked Help", "2025-03-12T12:00:00", None, None, None),
    ("c", "Started Web Chat", "2025-03-13T12:00:00", None, None, None),
    ("a", "Tracked Order", "2025-03-01T00:00:00", None, None, None),
    ("b", "Started Return", "2025-03-07T23:59:59", None, None, None),
    ("a", "Applied Coupon", "2025-02-28T12:00:00", None, None, None),  # before both periods
    ("a", "Placed Order", "2025-03-09T10:00:00", 100.0, None, None),
    ("c", "Placed Order", "2025-03-11T10:00:00", 50.0, None, None),
    ("b", "Placed Order", "2025-03-05T10:00:00", 30.0, None, None),
    ("a", "Ordered Product", "2025-03-09T10:00:00", 60.0, "X", None),
    ("a", "Ordered Product", "2025-03-09T10:00:00", 40.0, "Y", None),
    ("c", "Ordered Product", "2025-03-11T10:00:00", 50.0, "X", None),
    ("b", "Ordered Product", "2025-03-05T10:00:00", 30.0, "Z", None),
    # a/X: added exactly 7 days before the order (inclusive) and again the day before: counted once
    ("a", "Added to Cart", "2025-03-02T10:00:00", None, "X", "account page"),
    ("a", "Added to Cart", "2025-03-08T10:00:00", None, "X", "account page"),
    ("a", "Added to Cart", "2025-03-09T09:00:00", None, "Y", "product page"),  # other source
    ("c", "Added to Cart", "2025-03-03T10:00:00", None, "X", "account page"),  # 8 days: too early
    ("c", "Added to Cart", "2025-03-11T10:00:00", None, "X", "account page"),  # same moment: counts
    ("b", "Added to Cart", "2025-03-04T10:00:00", None, "Z", "account page"),
]


@pytest.fixture(scope="module", params=["events", "rollups"])
def ws(request):
    """The log as a workspace, read from the events and again from the daily roll-ups an app
    snapshot carries (`cdp_lib.kpi.rollups`): every expectation below holds for both."""
    df = pd.DataFrame(EVENTS, columns=["profile_id", "metric", "timestamp", "value", "product_id", "source"])
    df.insert(0, "event_id", [f"e{i}" for i in range(len(df))])
    w = workspace_from_frames(events=df)
    if request.param == "rollups":
        from cdp_lib.kpi import rollup_build, rollups

        rollup_build.build(w)
        assert rollups.for_workspace(w) is not None
    yield w
    w.close()


def test_account_dashboard_matches_hand_computed_values(ws):
    got = kpi_overview(ws, START, END).set_index("metric")
    expected = {
        # metric: (value, previous, change_pct)
        "Total accounts": (4, 2, 100.0),  # a,b,c,e by 03-14 vs a,b by 03-07
        "New accounts": (2, 1, 100.0),  # c,e vs b
        # account holders by each period's end with an event of their own: a,b,c,e vs a,b
        # (c was active in the previous period but opened the account only later)
        "Active accounts": (4, 2, 100.0),
        "Service interactions": (4, 2, 100.0),
        "Revenue from account-page adds": (110, 30, 266.7),  # a/X 60 + c/X 50 vs b/Z 30
        "Revenue": (150, 30, 400.0),
        "Orders": (2, 1, 100.0),
        "Average order value": (75, 30, 150.0),
    }
    assert list(got.index) == [k.label for k in ACCOUNT_DASHBOARD]
    for metric, (value, previous, change) in expected.items():
        row = got.loc[metric]
        assert (row["value"], row["previous"], row["change_pct"]) == (value, previous, change), metric
        assert row["direction"] == "up"
    assert not got.loc["Service interactions", "good"]  # more service contacts is bad news
    assert got.loc["Revenue", "good"]


def test_service_interaction_breakdown(ws):
    got = kpi_breakdown(ws, START, END).set_index("metric")
    assert got["value"].to_dict() == {
        "Tracked Order": 1, "Started Return": 0, "Applied Coupon": 0, "Clicked Help": 2, "Started Web Chat": 1,
    }
    assert got["previous"].to_dict() == {
        "Tracked Order": 1, "Started Return": 1, "Applied Coupon": 0, "Clicked Help": 0, "Started Web Chat": 0,
    }
    assert got.loc["Tracked Order", "change_pct"] == 0.0
    assert got.loc["Started Return", "change_pct"] == -100.0
    assert got.loc["Started Return", "direction"] == "down"
    assert math.isnan(got.loc["Clicked Help", "change_pct"])  # nothing to compare with
    assert got.loc["Applied Coupon", "direction"] == "flat"


def test_average_without_orders_is_undefined_not_zero(ws):
    got = kpi_overview(ws, "2025-04-01", "2025-04-07", [Kpi("AOV", "average_value", ("Placed Order",))])
    assert got["value"].isna().all() and got["previous"].isna().all()
    assert got.loc[0, "direction"] == "flat"


def test_filters_and_other_metric_lists(ws):
    kpis = [
        Kpi("Big orders", "events", ("Placed Order",), where=({"property": "value", "op": ">=", "value": 50},)),
        Kpi("Product X revenue", "value", ("Ordered Product",), where=({"property": "product_id", "op": "equals", "value": "X"},)),
    ]
    got = kpi_overview(ws, START, END, kpis).set_index("metric")
    assert got.loc["Big orders", ["value", "previous"]].tolist() == [2, 0]
    assert got.loc["Product X revenue", ["value", "previous"]].tolist() == [110, 0]


def test_aov_per_day(ws):
    got = kpi_series(ws, START, END).execute()
    assert got["period"].astype(str).tolist() == ["2025-03-09", "2025-03-11"]
    assert got["value"].tolist() == [100.0, 50.0]


def test_period_and_previous_period():
    p = Period.parse("2025-03-08", "2025-03-14")
    assert p.days == 7 and str(p.previous.start) == "2025-03-01" and str(p.previous.end) == "2025-03-07"
    one = Period.parse("2025-03-08", "2025-03-08").previous
    assert str(one.start) == str(one.end) == "2025-03-07"


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("2025-03-14", "2025-03-08", "period end 2025-03-08 is before its start 2025-03-14; swap them"),
        ("yesterday-ish", "2025-03-08", "start: 'yesterday-ish' is not a date; expected YYYY-MM-DD"),
        (None, "2025-03-08", "start: a date is required"),
    ],
)
def test_bad_periods(ws, start, end, message):
    with pytest.raises(InputError, match=message):
        kpi_overview(ws, start, end)


def test_bad_kpi_definitions():
    with pytest.raises(InputError, match=r"KPI 'x': unknown measure 'median'"):
        Kpi("x", "median")
    with pytest.raises(InputError, match=r"KPI 'x': metrics must be a list of event names"):
        Kpi("x", "events", "Placed Order")
    with pytest.raises(InputError, match=r"KPI 'x': measure 'attributed_value' needs touch_metric"):
        Kpi("x", "attributed_value", ("Placed Order",))
    with pytest.raises(InputError, match=r"KPI 'x'.where\[0\].op: unknown operator 'like'"):
        Kpi("x", "events", where=({"property": "source", "op": "like", "value": "a"},))


@pytest.mark.notebook
def test_kpi_overview_notebook_on_the_demo_store(demo_store_path, tmp_path):
    import papermill as pm

    from pathlib import Path

    from cdp_lib import Workspace

    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "kpi_overview.ipynb"
    pm.execute_notebook(
        str(notebook), str(tmp_path / "out.ipynb"), cwd=str(tmp_path), kernel_name="python3",
        parameters={"db": str(demo_store_path)}, progress_bar=False,
    )
    saved = pd.read_csv(tmp_path / "kpi_overview.csv")
    with Workspace(demo_store_path, read_only=True) as ws:
        # Defaults: the 30 days ending on the newest event's day (the store ends 2025-06-30).
        expected = kpi_overview(ws, "2025-06-01", "2025-06-30")
    assert saved["metric"].tolist() == expected["metric"].tolist()
    assert saved["value"].tolist() == pytest.approx(expected["value"].tolist())
    assert saved["previous"].tolist() == pytest.approx(expected["previous"].tolist())
    assert (saved["value"] > 0).all()  # every account KPI has data in the demo store
    assert len(pd.read_csv(tmp_path / "average_order_value.csv")) == 30
    assert (tmp_path / "service_interactions.png").stat().st_size > 0
    assert (tmp_path / "average_order_value.png").stat().st_size > 0
