"""Audience performance: channel window edges, last touch across channels, membership at conversion."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cdp_lib.audience import attributed_conversions_table, audience_params, audience_performance_table, period_bounds
from cdp_lib.errors import InputError
from cdp_lib.testing import workspace_from_frames

ORDER_AT = pd.Timestamp("2024-03-10T12:00:00Z")
H, D = 3600, 86400


def events(*rows):
    """(profile, metric, seconds relative to ORDER_AT, value) rows."""
    return pd.DataFrame([
        {"event_id": f"e{i:03d}", "profile_id": p, "metric": m, "timestamp": ORDER_AT + pd.Timedelta(seconds=s),
         "value": v}
        for i, (p, m, s, v) in enumerate(rows)
    ])


def credit(rows, **kw):
    ws = workspace_from_frames(events=events(*rows))
    params = audience_params(period="custom", from_="2024-03-01", to="2024-03-31", **kw)
    df = attributed_conversions_table(ws, params, metrics={}).execute()
    return dict(zip(df.profile_id, df.touch_metric.where(df.touch_metric.notna(), None)))


@pytest.mark.parametrize(
    ("touch", "window_s"),
    [("Opened Email", 5 * D), ("Clicked Email", 5 * D), ("Clicked SMS", 5 * D), ("Opened SMS", D),
     ("Received SMS", 12 * H)],
)
def test_each_channel_window_edge_is_inclusive(touch, window_s):
    rows = [
        ("edge", touch, -window_s, None), ("edge", "Placed Order", 0, 10.0),
        ("past", touch, -window_s - 1, None), ("past", "Placed Order", 0, 10.0),
        ("same_moment", touch, 0, None), ("same_moment", "Placed Order", 0, 10.0),
        ("after", "Placed Order", 0, 10.0), ("after", touch, 1, None),
    ]
    assert credit(rows) == {"edge": touch, "past": None, "same_moment": touch, "after": None}


def test_most_recent_touch_whose_window_covers_wins_across_channels():
    rows = [
        # an SMS delivery 13 h ago has expired; the email click 2 days ago still covers
        ("p1", "Clicked Email", -2 * D, None), ("p1", "Received SMS", -13 * H, None), ("p1", "Placed Order", 0, 5.0),
        # a later SMS delivery 1 h ago beats the older email click
        ("p2", "Clicked Email", -2 * D, None), ("p2", "Received SMS", -H, None), ("p2", "Placed Order", 0, 5.0),
    ]
    assert credit(rows) == {"p1": "Clicked Email", "p2": "Received SMS"}


def test_windows_are_parameters():
    rows = [("p1", "Clicked Email", -2 * D, None), ("p1", "Placed Order", 0, 5.0)]
    assert credit(rows, windows={"Clicked Email": ["email", "1d"]}) == {"p1": None}
    assert credit(rows, windows={"Clicked Email": None}) == {"p1": None}


def test_credit_goes_to_segments_held_at_the_conversion_moment():
    ev = events(
        ("p1", "Clicked Email", -H, None), ("p1", "Placed Order", 0, 100.0),
        ("p2", "Received SMS", -H, None), ("p2", "Placed Order", 0, 40.0),
        ("p3", "Placed Order", 0, 7.0),
    )
    ws = workspace_from_frames(events=ev)
    at = ORDER_AT
    spells = pd.DataFrame({
        "segment": ["VIP", "VIP", "VIP", "New", "New"],
        "profile_id": ["p1", "p2", "p3", "p2", "p3"],
        # p1 joined exactly at the conversion (counts), p2 left VIP exactly then (does not)
        "joined_at": [at, at - pd.Timedelta(days=20), at - pd.Timedelta(days=2), at - pd.Timedelta(days=1),
                      at + pd.Timedelta(seconds=1)],
        "left_at": [None, at, None, None, None],
    })
    spells["joined_at"] = pd.to_datetime(spells.joined_at, utc=True)
    spells["left_at"] = pd.to_datetime(spells.left_at, utc=True)
    ws.con.create_table("segment_membership", spells)
    params = audience_params(period="custom", from_="2024-03-10", to="2024-03-10")
    got = audience_performance_table(ws, params, metrics={}).execute().set_index("segment")
    vip, new = got.loc["VIP"], got.loc["New"]
    assert (vip.email_conversions, vip.email_revenue, vip.sms_conversions) == (1, 100.0, 0)
    assert (vip.all_conversions, vip.all_revenue) == (2, 107.0)
    assert (new.sms_conversions, new.sms_revenue, new.total_conversions, new.all_conversions) == (1, 40.0, 1, 1)
    # members at the end of 2024-03-10: VIP p1, p3; New p2, p3. Joined/left inside the day:
    assert (vip.members, vip.added, vip.removed, vip.size_change) == (2, 1, 1, 0)
    assert (new.members, new.added, new.removed, new.size_change) == (2, 1, 0, 1)


def test_explicit_member_lists_work_without_segment_history():
    ev = events(("p1", "Opened Email", -H, None), ("p1", "Placed Order", 0, 30.0), ("p2", "Placed Order", 0, 5.0))
    ws = workspace_from_frames(events=ev)
    params = audience_params(period="last_7_days", as_of="2024-03-12")
    got = audience_performance_table(ws, params, members={"Test": ["p1", "p2"], "Empty": []}, metrics={}).execute()
    assert list(got.segment) == ["Test", "Empty"]
    test = got.iloc[0]
    assert (test.members, test.size_change, test.email_revenue, test.total_revenue, test.all_revenue) == (
        2, 0, 30.0, 30.0, 35.0)
    assert got.iloc[1].members == 0


def test_period_presets():
    day = dt.date(2024, 3, 14)  # a Thursday
    assert period_bounds("last_7_days", day) == (dt.date(2024, 3, 8), day)
    assert period_bounds("last_30_days", day) == (dt.date(2024, 2, 14), day)
    assert period_bounds("week_to_date", day) == (dt.date(2024, 3, 11), day)
    assert period_bounds("month_to_date", day) == (dt.date(2024, 3, 1), day)
    assert period_bounds("custom", None, "2023-03-14", "2024-03-13") == (dt.date(2023, 3, 14), dt.date(2024, 3, 13))
    with pytest.raises(InputError, match="at most one year"):
        period_bounds("custom", None, "2023-01-01", "2024-03-13")
    with pytest.raises(InputError, match="period: expected one of"):
        period_bounds("yesterday", day)


def test_errors_without_history_and_for_unknown_segments():
    ws = workspace_from_frames(events=events(("p1", "Placed Order", 0, 1.0)))
    params = audience_params(period="custom", start="2024-03-01", end="2024-03-31")
    with pytest.raises(InputError, match="run 'cdp segment refresh' first, or pass explicit member lists"):
        audience_performance_table(ws, params, metrics={})
    params = audience_params(segments=["VIPs"], period="custom", start="2024-03-01", end="2024-03-31")
    with pytest.raises(InputError, match="segment 'VIPs' has no membership history; did you mean 'VIP'"):
        audience_performance_table(ws, params, members={"VIP": ["p1"]}, metrics={})
    with pytest.raises(InputError, match=r"windows\['Clicked Email'\]: channel 'push'"):
        audience_params(windows={"Clicked Email": ["push", "1d"]})


def test_cli_with_member_file(tmp_path):
    from cdp_lib.cli import main

    db = tmp_path / "cdp.duckdb"
    ev = events(("p1", "Clicked SMS", -H, None), ("p1", "Placed Order", 0, 12.0))
    workspace_from_frames(str(db), events=ev).close()
    (tmp_path / "members.yaml").write_text("Texters: [p1]\n")
    out = tmp_path / "audience.csv"
    assert main(["--db", str(db), "audience-performance", "--members", str(tmp_path / "members.yaml"),
                 "--period", "week_to_date", "--as-of", "2024-03-10", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert (row.segment, row.sms_conversions, row.sms_revenue, row.total_revenue) == ("Texters", 1, 12.0, 12.0)


@pytest.mark.notebook
def test_notebook_runs_on_the_demo_store(demo_store_path, tmp_path):
    from pathlib import Path

    import papermill as pm

    from cdp_lib import Workspace

    with Workspace(demo_store_path, read_only=True) as ws:
        ids = sorted(ws.profiles.profile_id.execute())
    members = {"Everyone": ids, "First half": ids[: len(ids) // 2]}
    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "audience_performance.ipynb"
    pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="python3", cwd=str(tmp_path),
                        parameters={"db": str(demo_store_path), "as_of": "2025-06-30", "members": members},
                        progress_bar=False)
    perf = pd.read_csv(tmp_path / "audience_performance.csv").set_index("segment")
    everyone = perf.loc["Everyone"]
    assert everyone.members == len(ids)
    assert everyone.total_conversions > 0 and everyone.all_conversions >= everyone.total_conversions
    assert perf.loc["First half"].all_revenue <= everyone.all_revenue
