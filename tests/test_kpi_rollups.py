"""The KPI app's daily roll-ups (`cdp_lib.kpi.rollups`) give the figures computed from the events.

Random logs on coarse time grids (whole days, hours, the last second of a day), with repeats,
ties, out-of-order rows and many events per person, against random ranges and both kinds of
comparison: every overview, daily series, weekly series, breakdown and channel figure read from
the roll-ups equals the one computed from the events. The hand-worked cases of test_kpi.py and
the plain-loop daily check of test_apps_explorers.py also run on the roll-ups.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cdp_lib.kpi import ACCOUNT_DASHBOARD, Kpi, Period, kpi_breakdown, kpi_overview, kpi_series, latest_event_day, rollup_build, rollups
from cdp_lib.kpi.views import channel_revenue_overview, kpi_sparklines
from cdp_lib.testing import workspace_from_frames

METRICS = ["Created Account", "Placed Order", "Ordered Product", "Added to Cart", "Clicked Help", "Tracked Order",
           "Opened Email", "Clicked SMS", "Received SMS", "Received Email", "Viewed Product"]
DAY0 = dt.datetime(2025, 1, 1)
SECONDS = [0, 3600, 12 * 3600, 86399]  # coarse grid within a day, with the day's last second

# besides the dashboard: filters, `among` on other measures (not rolled up: read from events)
EXTRA = (
    Kpi("Big orders", "events", ("Placed Order",), where=({"property": "value", "op": ">=", "value": 50},)),
    Kpi("Buyers", "profiles", ("Placed Order",)),
    Kpi("Buyers among accounts", "profiles", ("Placed Order",), among="Created Account"),
    Kpi("Ever bought, among accounts", "total_profiles", ("Placed Order",), among="Created Account"),
    Kpi("Account revenue", "value", ("Placed Order",), among="Created Account"),
    Kpi("Revenue excl.", "value", exclude_metrics=("Ordered Product",)),
)

row = st.tuples(
    st.integers(0, 7),  # person: few people, many events each
    st.sampled_from(METRICS),
    st.integers(0, 40),  # day
    st.sampled_from(SECONDS),
    st.sampled_from([None, 10.0, 25.5, 50.0, 99.99]),
    st.sampled_from([None, "X", "Y"]),
    st.sampled_from([None, "account page", "product page"]),
)


def _frame(rows) -> pd.DataFrame:
    out = []
    for i, (p, m, day, sec, value, product, source) in enumerate(rows):
        ts = DAY0 + dt.timedelta(days=day, seconds=sec)
        out.append((f"e{i:04d}", f"p{p}", m, ts.isoformat(), value if m in ("Placed Order", "Ordered Product") else None,
                    product, source))
    return pd.DataFrame(out, columns=["event_id", "profile_id", "metric", "timestamp", "value", "product_id", "source"])


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame, what) -> None:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9, obj=str(what))


def _everything(ws, period: Period, kind: str) -> dict:
    kpis = ACCOUNT_DASHBOARD + EXTRA
    prev = period.compared(kind)
    out = {"overview": kpi_overview(ws, period.start, period.end, kpis, kind),
           "breakdown": kpi_breakdown(ws, period.start, period.end, None, kind),
           "week": kpi_series(ws, period.start, period.end, freq="week").execute(),
           "latest": latest_event_day(ws)}
    if ws.events.filter(ws.events.metric == "Placed Order").count().execute():
        out["channels"] = channel_revenue_overview(ws, period, prev)[0]
    for label, frame in kpi_sparklines(ws, period, kpis).items():
        out[("daily", label)] = frame
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=60), start=st.integers(0, 45), days=st.integers(1, 20),
       kind=st.sampled_from(["previous", "last_year"]), shuffle=st.randoms(use_true_random=False))
def test_rollups_give_the_figures_computed_from_events(rows, start, days, kind, shuffle):
    shuffle.shuffle(rows)  # out-of-order rows
    ws = workspace_from_frames(events=_frame(rows))
    try:
        period = Period((DAY0 + dt.timedelta(days=start)).date(), (DAY0 + dt.timedelta(days=start + days - 1)).date())
        from_events = _everything(ws, period, kind)
        rollup_build.build(ws)
        assert rollups.for_workspace(ws) is not None
        from_rollups = _everything(ws, period, kind)
    finally:
        ws.close()
    assert from_rollups.keys() == from_events.keys()
    for what, want in from_events.items():
        got = from_rollups[what]
        if isinstance(want, pd.DataFrame):
            _frames_equal(got, want, what)
        else:
            assert got == want, what


def test_a_sparkline_of_total_profiles_among_stays_inside_the_period():
    """A person counted from their later first `among` event lands on that day, not after the
    period (found while writing the roll-ups: the events path listed days past the period)."""
    ws = workspace_from_frames(events=_frame([
        (1, "Placed Order", 1, 0, 10.0, None, None), (1, "Created Account", 30, 0, None, None, None),
        (2, "Created Account", 0, 0, None, None, None), (2, "Placed Order", 2, 0, 20.0, None, None)]))
    kpi = Kpi("Ever bought, among accounts", "total_profiles", ("Placed Order",), among="Created Account")
    period = Period(dt.date(2025, 1, 1), dt.date(2025, 1, 10))
    for build in (False, True):
        if build:
            rollup_build.build(ws, [kpi])
        got = kpi_sparklines(ws, period, [kpi])[kpi.label]
        assert got["period"].astype(str).tolist() == ["2025-01-03"], build
        assert got["value"].tolist() == [1.0]
    ws.close()


def test_rollups_are_ignored_once_the_events_change():
    ws = workspace_from_frames(events=_frame([(1, "Placed Order", 1, 0, 10.0, None, None)]))
    rollup_build.build(ws)
    assert rollups.for_workspace(ws) is not None
    ws.duckdb.execute("INSERT INTO events (event_id, profile_id, metric, timestamp, value) VALUES "
                      "('late', 'p1', 'Placed Order', TIMESTAMPTZ '2025-01-02 05:00:00+00', 5.0)")
    assert rollups.for_workspace(ws) is None  # the stamp no longer matches: computed from events
    got = kpi_overview(ws, "2025-01-02", "2025-01-02", [Kpi("Revenue", "value", ("Placed Order",))])
    assert got["value"].tolist() == [15.0]
    ws.close()


def test_kpis_not_listed_at_build_time_are_read_from_the_events():
    ws = workspace_from_frames(events=_frame([(1, "Placed Order", 1, 0, 10.0, None, None),
                                              (2, "Placed Order", 1, 0, 20.0, None, None)]))
    rollup_build.build(ws, kpis=[])
    found = rollups.for_workspace(ws)
    buyers = Kpi("Buyers", "profiles", ("Placed Order",))
    assert not found.covers(buyers) and found.covers(Kpi("Orders", "events", ("Placed Order",)))
    got = kpi_overview(ws, "2025-01-02", "2025-01-02", [buyers])
    assert got["value"].tolist() == [2.0]
    ws.close()


def test_empty_workspace_builds_empty_rollups():
    ws = workspace_from_frames(events=_frame([])[:0])
    counts = rollup_build.build(ws)
    assert counts[rollups.METRIC_DAILY] == 0 and counts[rollups.STAMP] == 1
    ws.close()


def test_a_published_snapshot_carries_the_rollups(tmp_path):
    from cdp_lib.snapshots import open_published, publish

    rows = [(p, m, d, 0, 30.0, None, None) for p in range(3) for d in range(5) for m in ("Placed Order", "Created Account")]
    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=_frame(rows)).close()
    publish(db, prepare=rollup_build.build)
    ws = open_published(db)
    try:
        assert rollups.for_workspace(ws) is not None
        got = kpi_overview(ws, "2025-01-03", "2025-01-05").set_index("metric")
        assert got.loc["Orders", "value"] == 9 and got.loc["Revenue", "value"] == 270
        assert got.loc["Total accounts", "value"] == 3
    finally:
        ws.close()


def test_a_failing_prepare_publishes_nothing(tmp_path):
    from cdp_lib.snapshots import current_snapshot, publish, snapshots

    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=_frame([(1, "Placed Order", 1, 0, 10.0, None, None)])).close()

    def broken(ws):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish(db, prepare=broken)
    assert current_snapshot(db) is None and snapshots(db) == []
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "published").iterdir())


def test_sparkline_svg_places_days_by_date_and_draws_flat_and_empty_series():
    import re

    from cdp_lib.plots.explorers import sparkline_svg

    def points(svg):
        found = re.search(r'points="([^"]*)"', svg).group(1)
        return [tuple(map(float, p.split(","))) for p in found.split()] if found else []

    # days 1, 2 and 5: the gap of two missing days is a longer segment; high values are drawn higher
    got = points(sparkline_svg(pd.DataFrame({"period": ["2025-01-01", "2025-01-02", "2025-01-05"],
                                             "value": [1.0, 3.0, 2.0]}), width=102, height=22, pad=1))
    assert got == [(1.0, 21.0), (26.0, 1.0), (101.0, 11.0)]
    flat = points(sparkline_svg(pd.DataFrame({"period": ["2025-01-01", "2025-01-02"], "value": [5.0, 5.0]}),
                                height=36))
    assert [y for _, y in flat] == [18.0, 18.0]  # a level line in the middle, no division by zero
    assert points(sparkline_svg(pd.DataFrame({"period": [], "value": []}))) == []
    assert points(sparkline_svg(pd.DataFrame({"period": ["2025-01-01"], "value": [None]}))) == []
