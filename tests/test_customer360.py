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
