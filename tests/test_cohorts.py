"""Acquisition cohorts: hand-written logs, then a plain pandas reference on random, demo and CDNOW data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
                         "active_customers": a.profile_id.nunique(), "revenue": o.value.sum(), "orders": len(o),
                         # complete when the calendar period's last day is on or before `until`'s day
                         "period_complete": p.end_time.normalize() <= until.normalize()})
    out = pd.DataFrame(rows)
    out["retention"] = out.active_customers / out.customers
    out["cumulative_revenue_per_customer"] = out.groupby("cohort_start").revenue.cumsum() / out.customers
    return out


def compare(got: pd.DataFrame, want: pd.DataFrame):
    got = got.assign(cohort_start=pd.to_datetime(got.cohort_start).dt.tz_localize(None))
    cols = ["cohort_start", "period", "customers", "active_customers", "orders", "period_complete"]
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


def test_running_period_is_flagged_incomplete():
    # the newest event is 2024-03-10: March is still running, January and February are not
    ev = orders(("p1", "2024-01-05T00:00:00Z", 1.0), ("p2", "2024-02-05T00:00:00Z", 1.0),
                ("p1", "2024-03-10T08:00:00Z", 1.0))
    ws = workspace_from_frames(events=ev)
    got = cohort_table(ws, cohort_params(), metrics={}).execute()
    assert list(zip(got.cohort, got.period, got.period_complete)) == [
        ("2024-01", 0, True), ("2024-01", 1, True), ("2024-01", 2, False), ("2024-02", 0, True), ("2024-02", 1, False)]
    # `until` on the last day of a month completes it; one day earlier does not
    assert cohort_table(ws, cohort_params(until="2024-03-31"), metrics={}).execute().period_complete.all()
    assert not cohort_table(ws, cohort_params(until="2024-03-30"), metrics={}).execute().period_complete.iloc[-1]
    # weeks end on Sunday (2024-03-10 is one), days end on themselves
    weekly = cohort_table(ws, cohort_params(period="week"), metrics={}).execute()
    assert weekly.period_complete.all()
    assert not cohort_table(ws, cohort_params(period="week", until="2024-03-09"), metrics={}).execute().period_complete.iloc[-1]
    assert cohort_table(ws, cohort_params(period="day"), metrics={}).execute().period_complete.all()
    # a running period counted in the table keeps its partial figures (it is flagged, not dropped)
    assert got.active_customers.iloc[2] == 1


def test_heatmap_marks_running_cells_and_writes_every_value():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from cdp_lib.plots.cohorts import plot_cohort_heatmap, plot_retention_curves

    ev = orders(("p1", "2024-01-05T00:00:00Z", 1.0), ("p2", "2024-01-06T00:00:00Z", 1.0),
                ("p1", "2024-02-05T00:00:00Z", 1.0), ("p3", "2024-02-07T00:00:00Z", 1.0),
                ("p1", "2024-03-03T00:00:00Z", 1.0))
    long = cohort_table(workspace_from_frames(events=ev), cohort_params(), metrics={}).execute()
    ax = plot_cohort_heatmap(long, "retention")
    texts = sorted(t.get_text() for t in ax.texts)
    # 2024-01: 100 %, 50 %, 50 % (running); 2024-02: 100 %, 0 % (running): five cells, five labels
    assert texts == ["0%", "100%", "100%", "50%", "50%"]
    hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]
    assert sorted((p.get_x(), p.get_y()) for p in hatched) == [(1.0, 1.0), (2.0, 0.0)]
    # the coloured mesh leaves running cells out: the 0 % of a running month is not a dark "drop"
    mesh = ax.collections[0].get_array()
    assert np.ma.count_masked(mesh) == 2 + 1  # two running cells and the cohort with one column fewer
    assert "period still running" in ax.get_legend().get_texts()[0].get_text()
    plt.close("all")
    ax = plot_retention_curves(long)  # default: running periods left out
    assert [line.get_xydata()[:, 0].tolist() for line in ax.lines] == [[1.0]]  # 2024-01's period 1 only
    assert "running periods left out" in ax.get_title()
    plt.close("all")
    ax = plot_retention_curves(long, running="dashed")
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert [line.get_xydata()[:, 0].tolist() for line in dashed] == [[1.0, 2.0], [1.0]]  # into each running period
    solid = [line for line in ax.lines if line.get_linestyle() == "-" and line.get_label() == "2024-01"]
    assert solid[0].get_xydata()[:, 0].tolist() == [1.0]  # complete periods solid (period 0 left out)
    assert ax.get_legend().get_texts()[-1].get_text() == "period still running"
    with pytest.raises(InputError, match="running: expected 'omit' or 'dashed'"):
        plot_retention_curves(long, running="hide")
    plt.close("all")


period_rows = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 80), st.sampled_from([0, 12, 23]), st.sampled_from([ORDER, "Viewed Product"])),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=period_rows, period=st.sampled_from(["day", "week", "month"]), until_day=st.one_of(st.none(), st.integers(0, 90)))
def test_period_complete_and_figures_match_reference_on_random_logs(rows, period, until_day):
    """Coarse hour grid, repeated timestamps, out-of-order rows, many events per person."""
    start = pd.Timestamp("2024-01-29T00:00:00Z")  # a Monday, two days before a month end
    ev = pd.DataFrame([{
        "event_id": f"e{i:03d}", "profile_id": f"p{person}", "metric": metric,
        "timestamp": start + pd.Timedelta(days=day, hours=hour), "value": float(day % 7),
    } for i, (person, day, hour, metric) in enumerate(rows)])
    if not (ev.metric == ORDER).any():
        return
    until = None if until_day is None else (start + pd.Timedelta(days=until_day)).date()
    if until is not None and until < ev[ev.metric == ORDER].timestamp.min().date():
        return
    ws = workspace_from_frames(events=ev)
    got = cohort_table(ws, cohort_params(period=period, until=until), metrics={}).execute()
    inside = ev if until is None else ev[ev.timestamp < pd.Timestamp(until, tz="UTC") + pd.Timedelta(days=1)]
    # default `until`: the day of the newest order (the activity metric is the cohort metric)
    compare(got, pandas_cohorts(inside[inside.metric == ORDER], period, until=until))


@pytest.mark.parametrize("period, step", [("day", pd.Timedelta(days=1)), ("month", pd.DateOffset(months=1))])
def test_32_to_63_periods_use_the_64_bit_masks(period, step):
    """Found by the Hypothesis test above: with 32..63 periods (two months of daily cohorts, three
    to five years of monthly ones) the activity bit masks overflowed a 32-bit shift."""
    first = pd.Timestamp("2021-01-01T10:00:00Z")
    ev = orders(*[(f"p{i % 3}", (first + step * i).isoformat(), 1.0) for i in range(0, 50, 7)],
                ("p0", (first + step * 49).isoformat(), 2.0))
    got = cohort_table(workspace_from_frames(events=ev), cohort_params(period=period), metrics={}).execute()
    compare(got, pandas_cohorts(ev, period))
    assert got.period.max() == 49


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
    with pytest.raises(InputError, match="grain: expected one of"):
        cohort_params(grain="quarter")
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
    assert list(df.columns) == ["cohort", "period", "customers", "active_customers", "retention", "revenue",
                                "period_complete"]
    # February is still running on the newest event day (2024-02-05)
    assert df.values.tolist() == [["2024-01", 0, 1, 1, 1.0, 10.0, True], ["2024-01", 1, 1, 1, 1.0, 20.0, False]]
    assert main(["--db", str(db), "cohort", "--until", "2024-02-29", "--out", str(out)]) == 0
    assert pd.read_csv(out)["period_complete"].tolist() == [True, True]


@pytest.mark.notebook
def test_notebook_runs_on_the_demo_store(demo_store_path, tmp_path):
    from pathlib import Path

    import papermill as pm

    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "cohort.ipynb"
    pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="python3", cwd=str(tmp_path),
                        parameters={"db": str(demo_store_path), "from_": "2024-07-01"}, progress_bar=False)
    cohorts = pd.read_csv(tmp_path / "cohorts.csv")
    assert cohorts.cohort.min() == "2024-07" and cohorts.cohort.max() == "2025-06"
    assert (cohorts[cohorts.period == 0].retention == 1.0).all()
    # only the period holding the newest event's day can be running: at most each cohort's last
    last = cohorts.groupby("cohort").period.transform("max")
    assert cohorts[cohorts.period < last].period_complete.all()
    assert (tmp_path / "retention_heatmap.png").exists()
