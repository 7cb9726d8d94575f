"""Customer 360 answers on a hand-written history of one person (as of 2025-03-10)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cdp_lib import InputError
from cdp_lib.apps import Customer360App
from cdp_lib.customer360 import customer_360, find_profiles
from cdp_lib.testing import workspace_from_frames

AS_OF = "2025-03-10"

PROFILES = pd.DataFrame({
    "profile_id": ["x", "y"],
    "external_id": ["C1", "C2"],
    "email": [" X.Doe@Example.com", "y@example.com"],
    "phone": ["+1 (555) 010-2030", None],
    "first_name": ["Xia", "Yan"],
})

EVENTS = [
    # metric, timestamp, value, product, channel
    ("Viewed Product", "2025-03-01T10:00:00", None, "P1", "web"),
    ("Viewed Product", "2025-03-05T10:00:00", None, "P2", "web"),
    ("Viewed Product", "2025-03-06T10:00:00", None, "P1", "web"),
    ("Viewed Product", "2025-01-01T10:00:00", None, "P3", "web"),  # older than 30 days
    ("Placed Order", "2025-02-01T14:10:00", 10.0, None, "email"),
    ("Placed Order", "2025-03-02T14:00:00", 50.0, None, "email"),
    ("Placed Order", "2025-03-07T14:30:00", 20.0, None, "web"),
    ("Ordered Product", "2025-03-07T14:30:00", 20.0, "P2", "web"),
    ("Placed Order", "2025-03-11T09:00:00", 99.0, None, "sms"),  # after the as-of date
    *[("Received Email", f"2025-03-0{d}T09:00:00", None, None, "email") for d in (1, 2, 3, 4)],
    ("Opened Email", "2025-03-02T14:05:00", None, None, "email"),
    ("Opened Email", "2025-03-03T14:05:00", None, None, "email"),
    ("Clicked Email", "2025-03-03T14:06:00", None, None, "email"),
    ("Received SMS", "2025-03-01T09:00:00", None, None, "sms"),
    ("Received SMS", "2025-03-02T09:00:00", None, None, "sms"),
]


@pytest.fixture(scope="module")
def ws():
    ev = pd.DataFrame(EVENTS, columns=["metric", "timestamp", "value", "product_id", "channel"])
    ev.insert(0, "profile_id", "x")
    ev.insert(0, "event_id", [f"e{i}" for i in range(len(ev))])
    catalog = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "name": ["Mug", "Tea", "Pot"],
                            "category": ["Kitchen", "Pantry", "Kitchen"]})
    w = workspace_from_frames(profiles=PROFILES, events=ev, catalog=catalog)
    w.write_table("clv_predictions", pd.DataFrame({
        "profile_id": ["x"], "as_of": [dt.date(2025, 3, 10)], "predicted_clv": [100.0],
        "churn_probability": [0.2], "churn_risk": ["low"], "expected_next_order_date": [dt.date(2025, 3, 20)],
    }))
    w.write_table("rfm_snapshots", pd.DataFrame({
        "as_of": [dt.date(2025, 2, 1), dt.date(2025, 3, 1)], "profile_id": ["x", "x"],
        "rfm_group": ["Recent", "Loyal"],
    }))
    w.write_table("segment_membership", pd.DataFrame({
        "segment": ["VIP", "Old"], "profile_id": ["x", "x"],
        "joined_at": pd.to_datetime(["2025-03-01", "2024-01-01"], utc=True),
        "left_at": pd.to_datetime([None, "2024-06-01"], utc=True),
    }))
    yield w
    w.close()


@pytest.mark.parametrize("query", ["x.doe@example.com", "X.DOE@EXAMPLE.COM ", "+1 555 010 2030", "+15550102030", "C1", "x"])
def test_find_profiles_by_any_identifier(ws, query):
    assert find_profiles(ws, query)["profile_id"].tolist() == ["x"]


def test_find_profiles_without_match_and_with_empty_query(ws):
    assert find_profiles(ws, "nobody@example.com").empty
    with pytest.raises(InputError, match="search: type an email, phone number, external id or profile id"):
        find_profiles(ws, "  ")


def test_customer_360_answers(ws):
    c = customer_360(ws, "x", as_of=AS_OF)
    assert c.recently_viewed[["product_id", "times", "name"]].values.tolist() == [["P1", 2, "Mug"], ["P2", 1, "Tea"]]
    assert c.recently_bought[["product_id", "name"]].values.tolist() == [["P2", "Tea"]]
    assert (c.orders, c.revenue) == (3, 80.0)  # the order on 03-11 is after the as-of date
    assert c.last_purchase_channel == "web" and c.last_purchase_at == pd.Timestamp("2025-03-07T14:30", tz="UTC")
    assert c.preferred_channel == "email"  # 2 of 3 orders
    assert c.usual_active_hour == 14  # 7 own events at 14h vs 4 at 10h; received messages ignored
    msgs = c.message_responses.set_index("channel")
    assert msgs.loc["email", ["received", "opened", "clicked", "open_rate", "click_rate"]].tolist() == [4, 2, 1, 0.5, 0.25]
    assert msgs.loc["sms", "received"] == 2 and msgs.loc["sms", "clicked"] == 0
    assert msgs.loc["sms", "opened"] is None or pd.isna(msgs.loc["sms", "opened"])
    assert c.expected_next_order_date == dt.date(2025, 3, 20)
    assert (c.churn_probability, c.churn_risk) == (0.2, "low")
    assert c.rfm_history["rfm_group"].tolist() == ["Recent", "Loyal"]
    assert c.segments == ["VIP"]  # "Old" was left in 2024
    assert c.notes == []


def test_customer_360_without_history_or_analyses(tmp_path):
    w = workspace_from_frames(profiles=PROFILES)
    c = customer_360(w, "y", as_of=AS_OF)
    assert (c.orders, c.revenue, c.preferred_channel, c.usual_active_hour) == (0, 0.0, None, None)
    assert c.recently_viewed.empty and c.segments == []
    assert any("run 'cdp clv'" in n for n in c.notes)
    with pytest.raises(InputError, match="profile 'zz' not found"):
        customer_360(w, "zz")
    w.close()


def test_customer360_app_shows_the_library_answers(ws):
    app = Customer360App(workspace=ws, recent_days=30)
    app.query.value = "+1 555 010 2030"
    assert app.error is None and app.matches.value == "x"
    assert app.as_of == dt.date(2025, 3, 11)  # the newest event's day: the data's "now"
    expected = customer_360(ws, "x", as_of="2025-03-11", recent_days=30)
    assert app.view.orders == expected.orders == 4
    facts = app.facts.value
    assert 'data-fact="orders"' in facts and ">4<" in facts
    assert ">email<" in facts  # preferred channel: 2 email orders vs 1 web and 1 sms
    assert "20% (low)" in facts and "VIP" in facts and "2025-03-20" in facts
    app.query.value = "nobody@example.com"
    assert "no profile has the email, phone or id 'nobody@example.com'" in app.status.value.replace("&#x27;", "'")
    assert app.facts.value == ""
