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
    assert "No one's name, email, phone or id matches 'nobody@example.com'" in app.search_note.value.replace("&#x27;", "'")
    assert "cdp-error" in app.search_note.value and app.facts.value == "" and app.status.value == ""
    app.query.value = "x.do"  # part of the email
    assert app.matches.value == "x" and "1 match for 'x.do'" in app.search_note.value.replace("&#x27;", "'")
    assert app.matches.options[0][0] == "Xia · X.Doe@Example.com · +1 (555) 010-2030 · x"


def test_high_churn_never_shown_beside_a_next_purchase():
    """Rows stored by an older run or with a low `min_p_alive_for_next_order`: the view hides a
    date at high churn risk, and marks a date that has passed."""
    from cdp_lib.apps.customer360 import facts_html
    from cdp_lib.customer360 import PASSED, PROBABLY_GONE, prediction_facts_table

    w = workspace_from_frames(profiles=PROFILES)
    w.write_table("clv_predictions", pd.DataFrame({
        "profile_id": ["x", "y"], "as_of": [dt.date(2025, 3, 1)] * 2, "predicted_clv": [5.0, 50.0],
        "churn_probability": [0.95, 0.4], "churn_risk": ["high", "medium"],
        "expected_next_order_date": [dt.date(2025, 3, 14), dt.date(2025, 3, 5)],
    }))
    facts = prediction_facts_table(w.table("clv_predictions"), AS_OF).execute().set_index("profile_id")
    assert pd.isna(facts.loc["x", "expected_next_order_date"]) and facts.loc["x", "next_purchase"] == PROBABLY_GONE
    assert facts.loc["y", "next_purchase"] == PASSED  # 2025-03-05 is before the as-of day 2025-03-10
    x = customer_360(w, "x", as_of=AS_OF)
    assert x.expected_next_order_date is None and x.churn_risk == "high"
    html = facts_html(x)
    assert "not expected (probably gone)" in html and "2025-03-14" not in html and "95% (high)" in html
    y = customer_360(w, "y", as_of=AS_OF)
    assert y.expected_next_order_date == dt.date(2025, 3, 5) and "2025-03-05 (date passed)" in facts_html(y)
    w.close()


@pytest.mark.slow
def test_no_contradiction_on_the_demo_store_for_any_customer(demo_ws):
    """Over every profile of the demo store (tests' fixture store), after a default `cdp clv`:
    churn risk, next-order date, the shipped 14-day segment and the Customer 360 view agree."""
    import warnings
    from pathlib import Path

    from cdp_lib import clv
    from cdp_lib.apps.customer360 import facts_html
    from cdp_lib.customer360 import EXPECTED, PROBABLY_GONE, prediction_facts_table
    from cdp_lib.segments import load_definition, members_table

    as_of = "2025-06-30"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clv.run_clv(demo_ws, clv.ClvParams(as_of=as_of))
    assert result.report.model == "mbgnbd"
    pred = demo_ws.table("clv_predictions").execute().set_index("profile_id")
    bought = pred[pred["historic_orders"] > 0]
    assert len(bought) > 1000 and pred["p_alive"].notna().sum() == len(bought)
    dated = pred["expected_next_order_date"].notna()
    # 1. a date only for customers probably still active, so never at high churn risk
    assert (pred.loc[dated, "p_alive"] >= 0.5).all() and (pred.loc[dated, "churn_risk"] != "high").all()
    assert (pred.loc[dated, "churn_probability"] <= 0.5).all()
    assert pred.loc[pred["p_alive"] < 0.5, "expected_next_order_date"].isna().all()
    assert result.report.next_order_dates_withheld == int((pred["p_alive"] < 0.5).sum()) > 0
    # one-time buyers are no longer all "low": their churn grows with the time since the order
    once = bought[bought["historic_orders"] == 1]
    assert set(once["churn_risk"]) - {"low"}
    # 2. the shipped segment holds exactly the customers whose date falls in the next 14 days
    root = Path(__file__).resolve().parent.parent
    segment = load_definition(root / "parameters" / "segments" / "next_order_14_days.yaml")
    members = set(members_table(demo_ws, segment, as_of=as_of).execute()["profile_id"])
    day = pd.Timestamp(as_of)
    due = pred[dated & (pd.to_datetime(pred["expected_next_order_date"]) <= day + pd.Timedelta(days=14))
               & (pd.to_datetime(pred["expected_next_order_date"]) >= day)]
    assert members == set(due.index) and len(members) > 0
    assert (pred.loc[list(members), "churn_risk"] != "high").all()
    assert (pred.loc[list(members), "churn_probability"] <= 0.5).all()
    # 3. the 360 view's facts for every profile: no date beside high churn; dates as stored
    facts = prediction_facts_table(demo_ws.table("clv_predictions"), as_of).execute().set_index("profile_id")
    assert len(facts) == len(pred)
    shown = facts["expected_next_order_date"].notna()
    assert not (shown & (facts["churn_risk"] == "high")).any()
    assert (facts.loc[facts["churn_risk"] == "high", "next_purchase"] == PROBABLY_GONE).all()
    assert (pd.to_datetime(facts.loc[shown, "expected_next_order_date"])
            == pd.to_datetime(pred.loc[facts.index[shown], "expected_next_order_date"])).all()
    assert (facts.loc[list(members), "next_purchase"] == EXPECTED).all()
    # 4. the whole view, end to end, for the riskiest segment members and the riskiest customers
    riskiest = list(pred.loc[list(members)].sort_values("churn_probability").index[-5:])
    riskiest += list(bought.sort_values("churn_probability").index[-5:])
    for pid in riskiest:
        c = customer_360(demo_ws, pid, as_of=as_of)
        card = facts_html(c)
        if c.churn_risk == "high":
            assert c.expected_next_order_date is None and "not expected (probably gone)" in card
        else:
            assert c.expected_next_order_date == pd.Timestamp(pred.loc[pid, "expected_next_order_date"]).date()
    result.summary.release()


# -- card, timeline and orders in the person's local time --------------------------------------
TL_EVENTS = [
    # event_id, metric, timestamp (UTC), value, product, channel, order_id
    ("t1", "Placed Order", "2025-03-08T14:30:00", 40.0, None, "web", "o1"),  # EST: 09:30
    ("t2", "Ordered Product", "2025-03-08T14:30:00", 25.0, "P1", None, "o1"),
    ("t3", "Ordered Product", "2025-03-08T14:30:00", 15.0, "P9", None, "o1"),  # not in the catalog
    ("t4", "Placed Order", "2025-03-10T13:00:00", 60.5, None, "email", "o2"),  # EDT (DST from 03-09): 09:00
    ("t5", "Refunded Order", "2025-03-12T08:00:00", 20.0, None, None, "o2"),
    ("t6", "Placed Order", "2025-03-12T20:00:00", 10.0, None, "sms", "o3"),
    ("t7", "Cancelled Order", "2025-03-12T21:00:00", 10.0, None, None, "o3"),
    ("t8", "Viewed Product", "2025-03-13T01:15:00", None, "P1", "web", None),  # EDT: 03-12 21:15
    ("t9", "Placed Order", "2025-03-20T10:00:00", 99.0, None, "web", "o4"),  # after the as-of date
    ("t0", "Received Email", "2025-03-11T13:00:00", None, None, "email", None),
]


@pytest.fixture(scope="module")
def tl_ws():
    ev = pd.DataFrame(TL_EVENTS, columns=["event_id", "metric", "timestamp", "value", "product_id", "channel", "order_id"])
    ev.insert(1, "profile_id", "z")
    profiles = pd.DataFrame({
        "profile_id": ["z", "w", "v"], "email": ["z@example.com", None, "v@example.com"],
        "phone": ["+15550001111", "+15550002222", " "], "first_name": ["Zed", "Wu", "Vi"],
        "timezone": ["America/New_York", "Mars/Olympus", None],
        "email_consent": [True, True, None], "sms_consent": [False, None, True],
    })
    catalog = pd.DataFrame({"product_id": ["P1"], "name": ["Mug"], "category": ["Kitchen"]})
    w = workspace_from_frames(profiles=profiles, events=ev, catalog=catalog)
    w.write_table("clv_predictions", pd.DataFrame({
        "profile_id": ["z"], "historic_clv": [90.5], "predicted_clv": [120.25], "churn_probability": [0.4],
        "churn_risk": ["medium"], "expected_next_order_date": [dt.date(2025, 4, 1)]}))
    w.write_table("rfm_profile_attributes", pd.DataFrame({
        "profile_id": ["z"], "current_rfm_group": ["At Risk"], "previous_rfm_group": ["Loyal"],
        "rfm_group_last_changed": [dt.date(2025, 3, 1)]}))
    yield w
    w.close()


def test_order_list_links_items_refunds_and_cancellations(tl_ws):
    o = customer_360(tl_ws, "z", as_of="2025-03-15").order_list
    assert o.order_id.tolist() == ["o3", "o2", "o1"]  # newest first; o4 is after the as-of date
    assert o.amount.tolist() == [10.0, 60.5, 40.0]
    assert o["items"].tolist() == [0, 0, 2] and o.refunded.tolist() == [0.0, 20.0, 0.0]
    assert o.cancelled.tolist() == [10.0, 0.0, 0.0] and o.channel.tolist() == ["sms", "email", "web"]


def test_timeline_newest_first_with_product_names(tl_ws):
    t = customer_360(tl_ws, "z", as_of="2025-03-15").timeline
    assert t.metric.tolist() == ["Viewed Product", "Cancelled Order", "Placed Order", "Refunded Order",
                                 "Received Email", "Placed Order", "Ordered Product", "Ordered Product", "Placed Order"]
    assert t["product"].tolist()[0] == "Mug"
    # same moment (t1, t2, t3): a stable order, newest event id first; an unknown product keeps its id
    assert t["product"].tolist()[-3:] == ["P9", "Mug", None]
    assert len(customer_360(tl_ws, "z", as_of="2025-03-15", timeline_limit=3).timeline) == 3


def test_times_in_the_profiles_zone_with_daylight_saving(tl_ws):
    from cdp_lib.apps.customer360 import orders_frame, timeline_frame

    c = customer_360(tl_ws, "z", as_of="2025-03-15")
    assert (c.timezone, c.timezone_note) == ("America/New_York", "times in the customer's local time (America/New_York)")
    assert orders_frame(c).Placed.tolist() == ["2025-03-12 16:00 EDT", "2025-03-10 09:00 EDT", "2025-03-08 09:30 EST"]
    assert timeline_frame(c).Time.iloc[0] == "2025-03-12 21:15 EDT"  # 01:15 UTC on the 13th
    # own events (the received email ignored) at local hours 9 (t1-t3 EST, t4 EDT), 4, 16, 17, 21:
    # 9 wins; in UTC the same events fall at 14 (t1-t3), 13, 8, 20, 21, 1: 14 wins
    assert (c.usual_active_hour_local, c.usual_active_hour) == (9, 14)
    w = customer_360(tl_ws, "w", as_of="2025-03-15")
    assert (w.timezone, w.timezone_note) == ("UTC", "times in UTC (the profile's time zone 'Mars/Olympus' is not a known zone name)")
    assert customer_360(tl_ws, "v", as_of="2025-03-15").timezone_note == "times in UTC (the profile has no time zone)"


def test_card_shows_clv_churn_consent_and_rfm_group(tl_ws):
    from cdp_lib.apps.customer360 import facts_html

    c = customer_360(tl_ws, "z", as_of="2025-03-15")
    assert (c.historic_clv, c.predicted_clv, c.rfm_group) == (90.5, 120.25, "At Risk")
    assert c.consent == {"email": "subscribed", "sms": "not subscribed"}
    assert customer_360(tl_ws, "w", as_of="2025-03-15").consent == {"email": "no email address", "sms": "consent unknown"}
    assert customer_360(tl_ws, "v", as_of="2025-03-15").consent == {"email": "consent unknown", "sms": "no phone number"}
    html = facts_html(c)
    for key, shown in (("historic_clv", "90.50"), ("predicted_clv", "120.25"), ("churn_probability", "40% (medium)"),
                       ("rfm_group", "At Risk"), ("consent_email", "subscribed"), ("consent_sms", "not subscribed"),
                       ("usual_active_hour", "09:00–09:59 America/New_York")):
        assert f'data-fact="{key}"' in html and f">{shown}<" in html, key


def test_app_shows_orders_and_timeline_in_local_time(tl_ws):
    app = Customer360App(workspace=tl_ws)
    app.query.value = "zed"
    assert app.matches.value == "z" and app.error is None
    page = app.details.value
    assert "Times in the customer&#x27;s local time (America/New_York)" in page
    assert "2025-03-08 09:30 EST" in page and ">60.50<" in page and "Refunded" in page
    assert "nan" not in page.lower() and "None" not in page
