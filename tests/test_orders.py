"""Tests for `customer_orders_table`: hand-computed values and a pandas reference."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_lib.orders import customer_orders_table
from cdp_lib.testing import workspace_from_frames


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["event_id", "profile_id", "metric", "timestamp", "value"])


def test_hand_computed_summary_respects_metric_and_as_of():
    ws = workspace_from_frames(events=frame([
        ("1", "a", "Placed Order", "2024-01-01T10:00:00Z", 10.0),
        ("2", "a", "Placed Order", "2024-03-05T23:59:59Z", 20.0),
        ("3", "a", "Placed Order", "2024-03-06T00:00:00Z", 40.0),  # after the as-of date
        ("4", "b", "Placed Order", "2024-02-01T00:00:00Z", None),  # no value: counts, adds 0
        ("5", "b", "Viewed Product", "2024-02-02T00:00:00Z", 99.0),  # another metric
        ("6", "c", "Refunded Order", "2024-02-03T00:00:00Z", 5.0),
    ]))
    got = customer_orders_table(ws, as_of="2024-03-05").order_by("profile_id").execute()
    assert got.profile_id.tolist() == ["a", "b"]
    assert got.orders.tolist() == [2, 1]
    assert got.revenue.tolist() == [30.0, 0.0]
    assert got.first_order_at.tolist() == [pd.Timestamp("2024-01-01 10:00", tz="UTC"),
                                           pd.Timestamp("2024-02-01", tz="UTC")]
    assert got.last_order_at.iloc[0] == pd.Timestamp("2024-03-05 23:59:59", tz="UTC")
    refunds = customer_orders_table(ws.events, metric="Refunded Order", as_of="2024-12-31").execute()
    assert refunds.to_dict("records")[0]["revenue"] == 5.0


def test_as_of_none_means_now():
    ws = workspace_from_frames(events=frame([
        ("1", "a", "Placed Order", "2024-01-01T00:00:00Z", 1.0),
        ("2", "a", "Placed Order", "2200-01-01T00:00:00Z", 1.0),  # in the future
    ]))
    assert customer_orders_table(ws).execute().orders.tolist() == [1]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from(["Placed Order", "Other"]),
                          st.integers(0, 60), st.one_of(st.none(), st.floats(-50, 500).map(lambda v: round(v, 2)))),
                min_size=1, max_size=40))
def test_matches_pandas_reference(rows):
    events = frame([(str(i), p, m, pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d), v)
                    for i, (p, m, d, v) in enumerate(rows)])
    events["value"] = events["value"].astype("float64")
    ws = workspace_from_frames(events=events)
    got = customer_orders_table(ws, as_of="2024-02-01").order_by("profile_id").execute()
    ref = events[(events.metric == "Placed Order") & (events.timestamp < pd.Timestamp("2024-02-02", tz="UTC"))]
    want = ref.groupby("profile_id").agg(orders=("event_id", "size"), revenue=("value", lambda v: v.fillna(0).sum()),
                                         first_order_at=("timestamp", "min"), last_order_at=("timestamp", "max"))
    want = want.reset_index()
    assert got.profile_id.tolist() == want.profile_id.tolist()
    assert got.orders.tolist() == want.orders.tolist()
    assert got.revenue.tolist() == pytest.approx(want.revenue.tolist())
    assert got.last_order_at.tolist() == want.last_order_at.tolist()
    ws.close()


# -- one summary behind RFM and the prerequisite checks (issue 17) --------------------------------
def _reference_summary(rows, as_of_day: str, recent_days: int) -> dict:
    """Plain loops: per profile, orders up to the end of the as-of day, first/last, recent count."""
    end = pd.Timestamp(as_of_day, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    since = end - pd.Timedelta(days=recent_days)
    out: dict = {}
    for _, profile, _, ts, value in rows:
        t = pd.Timestamp(ts)
        if t > end:
            continue
        rec = out.setdefault(profile, {"orders": 0, "revenue": 0.0, "first": t, "last": t, "recent": 0})
        rec["orders"] += 1
        rec["revenue"] += 0.0 if value is None else value
        rec["first"], rec["last"] = min(rec["first"], t), max(rec["last"], t)
        rec["recent"] += 1 if t > since else 0
    return out


ROWS = [
    ("1", "a", "Placed Order", "2024-01-01T10:00:00Z", 10.0),
    ("2", "a", "Placed Order", "2024-03-05T23:59:59.999999Z", 20.0),  # the last instant of the as-of day
    ("3", "a", "Placed Order", "2024-03-06T00:00:00Z", 40.0),  # after it
    ("4", "b", "Placed Order", "2024-02-04T23:59:59.999999Z", 7.0),  # exactly 30 days before the end: not recent
    ("5", "b", "Placed Order", "2024-02-05T00:00:00Z", None),  # just inside the 30 days, no value
    ("6", "c", "Placed Order", "2024-03-07T00:00:00Z", 1.0),  # only after the as-of day: absent
]


def test_rfm_and_prerequisites_read_the_one_order_summary():
    from cdp_lib import prerequisites, rfm
    from cdp_lib.orders import order_summary_table

    ws = workspace_from_frames(events=frame(ROWS))
    ref = _reference_summary(ROWS, "2024-03-05", prerequisites.RECENT_ORDER_DAYS)
    assert sorted(ref) == ["a", "b"]
    one = order_summary_table(ws.events, "2024-03-05", recent_days=30).execute().set_index("profile_id")
    per_rfm = rfm.customer_orders_table(ws.events, pd.Timestamp("2024-03-05").date()).execute().set_index("profile_id")
    activity = prerequisites.customer_activity_table(ws.events, "2024-03-05").execute().set_index("profile_id")
    for pid, want in ref.items():
        assert (one.loc[pid, "orders"], one.loc[pid, "revenue"], one.loc[pid, "recent_orders"]) == \
            (want["orders"], want["revenue"], want["recent"])
        assert one.loc[pid, "first_order_at"] == want["first"] and one.loc[pid, "last_order_at"] == want["last"]
        assert (per_rfm.loc[pid, "orders"], per_rfm.loc[pid, "monetary"], per_rfm.loc[pid, "recent_orders"],
                per_rfm.loc[pid, "first_order"], per_rfm.loc[pid, "last_order"]) == \
            (want["orders"], want["revenue"], want["recent"], want["first"], want["last"])
        assert (activity.loc[pid, "orders"], activity.loc[pid, "recent_orders"], activity.loc[pid, "first_order"]) == \
            (want["orders"], want["recent"], want["first"])
    assert sorted(one.index) == sorted(per_rfm.index) == sorted(activity.index) == sorted(ref)
