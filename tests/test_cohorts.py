"""Acquisition cohorts: hand-written logs, then a plain pandas reference on random, demo and CDNOW data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdp_lib.cohorts import cohort_matrix, cohort_params, cohort_table
from cdp_lib.errors import InputError
from cdp_lib.testing import workspace_from_frames

ORDER = "Placed Order"


def orders(*rows):
    """Rows of (profile, time, value[, metric[, extra columns]]); metric defaults to Placed Order."""
    out = []
    for i, (profile, time, value, *rest) in enumerate(rows):
        metric = rest[0] if rest and rest[0] else ORDER
        extra = rest[1] if len(rest) > 1 else {}
        out.append({"event_id": f"e{i:04d}", "profile_id": profile, "metric": metric, "timestamp": time,
                    "value": value, **extra})
    return pd.DataFrame(out)


def pandas_cohorts(events: pd.DataFrame, period: str, metric: str = ORDER, return_metric: str | None = None,
                   until=None) -> pd.DataFrame:
    """The cohort rules of docs/cohorts.md written directly in pandas."""
    ev = events.copy()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], utc=True, format="ISO8601").dt.tz_localize(None)
    freq = {"day": "D", "week": "W-SUN", "month": "M"}[period]
    ev["p"] = ev["timestamp"].dt.to_period(freq)
    buy = ev[ev.metric == metric].sort_values(["timestamp", "event_id"])
    first = buy.groupby("profile_id").first()["p"].rename("c")
    act = ev[ev.metric == (return_metric or metric)]
    until = pd.Timestamp(until) if until is not None else max(buy.timestamp.max(), act.timestamp.max())
    last = until.to_period(freq)
    rows = []
    for c, members in first.groupby(first):
        ids = set(members.index)
        for k in range((last - c).n + 1):
            p = c + k
            a = act[(act.p == p) & act.profile_id.isin(ids)]
            o = buy[(buy.p == p) & buy.profile_id.isin(ids)]
            rows.append({"cohort_start": c.start_time, "period": k, "customers": len(ids),
                         "active_customers": a.profile_id.nunique(), "revenue": o.value.sum(), "orders": len(o)})
    out = pd.DataFrame(rows)
    out["retention"] = out.active_customers / out.customers
    out["cumulative_revenue_per_customer"] = out.groupby("cohort_start").revenue.cumsum() / out.customers
    return out


def compare(got: pd.DataFrame, want: pd.DataFrame):
    got = got.assign(cohort_start=pd.to_datetime(got.cohort_start).dt.tz_localize(None))
    cols = ["cohort_start", "period", "customers", "active_customers", "orders"]
    g = got.sort_values(["cohort_start", "period"]).reset_index(drop=True)
    w = want.sort_values(["cohort_start", "period"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(g[cols], w[cols], check_dtype=False)
    for col in ("revenue", "retention", "cumulative_revenue_per_customer"):
        np.testing.assert_allclose(g[col], w[col], rtol=1e-9, atol=1e-9)


def test_monthly_cohorts_by_hand():
    ev = orders(
        ("p1", "2024-01-05T00:00:00Z", 10.0), ("p1", "2024-02-05T00:00:00Z", 20.0),
        ("p2", "2024-01-31T23:59:59Z", 5.0), ("p2", "2024-03-01T00:00:00Z", 7.0),
        ("p3", "2024-02-10T00:00:00Z", 1.0),
    )
    got = cohort_table(workspace_from_frames(events=ev), cohort_params(), metrics={}).execute()
    assert list(got.cohort) == ["2024-01"] * 3 + ["2024-02"] * 2
    assert list(got.period) == [0, 1, 2, 0, 1]
    assert list(got.customers) == [2, 2, 2, 1, 1]
    assert list(got.active_customers) == [2, 1, 1, 1, 0]
    assert list(got.retention) == [1.0, 0.5, 0.5, 1.0, 0.0]
    assert list(got.revenue) == [15.0, 20.0, 7.0, 1.0, 0.0]
    assert list(got.cumulative_revenue_per_customer) == [7.5, 17.5, 21.0, 1.0, 1.0]
    assert list(got.orders_per_customer) == [1.0, 0.5, 0.5, 1.0, 0.0]


def test_weeks_start_on_monday_and_days_are_iso_dates():
    # 2024-01-07 is a Sunday, 2024-01-08 a Monday
    ev = orders(("p1", "2024-01-07T23:00:00Z", 1.0), ("p1", "2024-01-08T01:00:00Z", 1.0))
    ws = workspace_from_frames(events=ev)
    weekly = cohort_table(ws, cohort_params(period="week"), metrics={}).execute()
    assert list(weekly.cohort) == ["2024-01-01", "2024-01-01"]
    assert list(weekly.active_customers) == [1, 1]
    daily = cohort_table(ws, cohort_params(period="day"), metrics={}).execute()
    assert list(daily.cohort) == ["2024-01-07", "2024-01-07"] and list(daily.period) == [0, 1]


def test_return_metric_counts_activity_in_calendar_periods():
    ev = orders(
        ("p1", "2024-01-20T00:00:00Z", 10.0),
        ("p1", "2024-01-02T00:00:00Z", 0.0, "Active on Site"),  # same calendar month, before the order
        ("p1", "2024-03-02T00:00:00Z", 0.0, "Active on Site"),
    )
    ws = workspace_from_frames(events=ev)
    got = cohort_table(ws, cohort_params(return_metric="Active on Site"), metrics={}).execute()
    assert list(got.active_customers) == [1, 0, 1]
    assert list(got.revenue) == [10.0, 0.0, 0.0]


def test_breakdown_by_first_order_property_and_by_profile():
    ev = orders(
        ("p1", "2024-01-05T00:00:00Z", 10.0, None, {"channel": "web"}),
        ("p1", "2024-01-06T00:00:00Z", 10.0, None, {"channel": "pos"}),
        ("p2", "2024-01-09T00:00:00Z", 5.0, None, {"channel": "pos"}),
    )
    profiles = pd.DataFrame({"profile_id": ["p1", "p2"], "country": ["US", None]})
    ws = workspace_from_frames(events=ev, profiles=profiles)
    by_channel = cohort_table(ws, cohort_params(breakdown="channel"), metrics={}).execute()
    assert dict(zip(by_channel.channel, by_channel.revenue)) == {"web": 20.0, "pos": 5.0}
    by_country = cohort_table(ws, cohort_params(breakdown="country"), metrics={}).execute()
    assert dict(zip(by_country.country, by_country.customers)) == {"US": 1, "(not set)": 1}
    matrix = cohort_matrix(by_country, "customers")
    assert matrix.loc[("US", "2024-01"), 0] == 1


def test_from_and_to_select_cohorts_but_activity_follows_to_the_end():
    ev = orders(("p1", "2023-12-31T00:00:00Z", 1.0), ("p1", "2024-02-01T00:00:00Z", 1.0),
                ("p2", "2024-01-15T00:00:00Z", 1.0), ("p2", "2024-03-01T00:00:00Z", 1.0))
    got = cohort_table(workspace_from_frames(events=ev), cohort_params(from_date="2024-01-10", to_date="2024-01-31"),
                       metrics={}).execute()
    assert set(got.cohort) == {"2024-01"}
    assert list(got.active_customers) == [1, 0, 1]


def test_invalid_parameters():
    with pytest.raises(InputError, match="period: expected one of"):
        cohort_params(period="quarter")
    ws = workspace_from_frames(events=orders(("p1", "2024-01-05T00:00:00Z", 1.0)))
    with pytest.raises(InputError, match="did you mean 'Placed Order'"):
        cohort_table(ws, cohort_params(metric="Placed Ordr"), metrics={}).execute()


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_matches_pandas_reference_on_random_orders(period):
    rng = np.random.default_rng(7)
    n = 400
    ts = pd.Timestamp("2024-01-01T00:00:00Z") + pd.to_timedelta(rng.integers(0, 120 * 86400, n), unit="s")
    ev = pd.DataFrame({
        "event_id": [f"e{i:04d}" for i in range(n)],
        "profile_id": [f"p{i}" for i in rng.integers(0, 60, n)],
        "metric": rng.choice([ORDER, "Viewed Product"], n, p=[0.6, 0.4]),
        "timestamp": ts,
        "value": rng.gamma(2.0, 30.0, n).round(2),
    })
    ws = workspace_from_frames(events=ev)
    got = cohort_table(ws, cohort_params(period=period, return_metric="Viewed Product"), metrics={}).execute()
    compare(got, pandas_cohorts(ev, period, return_metric="Viewed Product"))


def workspace_events(ws) -> pd.DataFrame:
    ev = ws.events
    return ev.filter(ev.metric == ORDER).select("event_id", "profile_id", "metric", "timestamp", "value").execute()


@pytest.mark.slow
def test_matches_pandas_reference_on_the_demo_store(demo_ws):
    ev = workspace_events(demo_ws)
    got = cohort_table(demo_ws, cohort_params(period="month"), metrics={}).execute()
    compare(got, pandas_cohorts(ev, "month"))


def test_cdnow_first_quarter_1997_cohorts_followed_to_june_1998(cdnow_sample_ws):
    params = cohort_params(period="month", from_date="1997-01-01", to_date="1997-03-31", until="1998-06-30")
    got = cohort_table(cdnow_sample_ws, params, metrics={}).execute()
    assert sorted(set(got.cohort)) == ["1997-01", "1997-02", "1997-03"]
    assert got.groupby("cohort").period.max().to_dict() == {"1997-01": 17, "1997-02": 16, "1997-03": 15}
    # CDNOW customers all made their first purchase in Q1 1997 (Fader, Hardie & Lee 2005)
    assert got[got.period == 0].customers.sum() == 2357
    ev = workspace_events(cdnow_sample_ws)
    compare(got, pandas_cohorts(ev, "month", until="1998-06-30"))


def test_cli_long_format(tmp_path):
    from cdp_lib.cli import main

    db = tmp_path / "cdp.duckdb"
    ev = orders(("p1", "2024-01-05T00:00:00Z", 10.0), ("p1", "2024-02-05T00:00:00Z", 20.0))
    workspace_from_frames(str(db), events=ev).close()
    out = tmp_path / "cohorts.csv"
    assert main(["--db", str(db), "cohort", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["cohort", "period", "customers", "active_customers", "retention", "revenue"]
    assert df.values.tolist() == [["2024-01", 0, 1, 1, 1.0, 10.0], ["2024-01", 1, 1, 1, 1.0, 20.0]]


@pytest.mark.notebook
def test_notebook_runs_on_the_demo_store(demo_store_path, tmp_path):
    from pathlib import Path

    import papermill as pm

    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "cohort.ipynb"
    pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="python3", cwd=str(tmp_path),
                        parameters={"db": str(demo_store_path), "from_date": "2024-07-01"}, progress_bar=False)
    cohorts = pd.read_csv(tmp_path / "cohorts.csv")
    assert cohorts.cohort.min() == "2024-07" and cohorts.cohort.max() == "2025-06"
    assert (cohorts[cohorts.period == 0].retention == 1.0).all()
    assert (tmp_path / "retention_heatmap.png").exists()
