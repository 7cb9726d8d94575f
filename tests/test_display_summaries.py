"""Report summaries: each sentence checked against figures worked out by hand in the comments."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_lib.display import summaries as s


@pytest.fixture(autouse=True)
def usd(monkeypatch, tmp_path):
    monkeypatch.setenv("CDP_PROJECT_DIR", str(tmp_path))
    monkeypatch.delenv("CDP_CURRENCY", raising=False)


def test_clv_summary():
    risk = pd.DataFrame({"churn_risk": ["low", "medium", "high"], "customers": [600, 300, 100],
                         "share": [0.6, 0.3, 0.1], "predicted_clv": [1000.0, 500.25, 0.0]})
    validation = {"repeat_transactions_holdout": 1163, "predicted_repeat_transactions_holdout": 1341.5,
                  "holdout_error_pct": 15.3}
    # 1,000 customers, $1,500.25 in total; high risk 100 / 1000 = 10.0 %; 1341.5 rounds to 1,342 (half to even)
    assert s.clv_summary(risk, validation, 365) == (
        "1,000 customers are expected to spend $1,500.25 over the next 365 days; 10.0 % of them are at high "
        "churn risk. In the holdout check the model expected 1,342 repeat orders where customers placed 1,163 "
        "(error 15.3 %).")
    assert s.clv_summary(risk, None, 30, currency="EUR").startswith("1,000 customers are expected to spend €1,500.25 over the next 30 days")
    assert s.clv_summary(risk.assign(customers=0), None, 365) == "No customer has ordered yet, so there is nothing to predict."


def test_segmentation_summary():
    latest = pd.DataFrame({"segment": ["VIP", "Engaged", "Lapsed"], "members": [50, 2500, 300],
                           "entered": [5, 40, 120], "left": [1, 30, 7]})
    assert s.segmentation_summary(latest, "2025-06-30") == (
        "3 segments as of 2025-06-30; the largest is Engaged with 2,500 members. Most people entered Lapsed "
        "(120 in, 7 out) since the previous refresh.")
    quiet = latest.assign(entered=0, left=0)
    assert s.segmentation_summary(quiet).endswith("Nobody entered or left a segment since the previous refresh.")
    assert "run 'cdp segment refresh'" in s.segmentation_summary(latest.iloc[0:0])


def test_audience_summary():
    perf = pd.DataFrame({"segment": ["VIP", "Lapsed"], "total_revenue": [120.5, 980.0], "total_conversions": [3, 12]})
    assert s.audience_summary(perf, "2025-06-01", "2025-06-30") == (
        "From 2025-06-01 to 2025-06-30, 2 segments were measured; Lapsed earned the most attributed revenue, "
        "$980.00 from 12 conversions.")
    assert s.audience_summary(perf.assign(total_revenue=0.0), "2025-06-01", "2025-06-30").endswith(
        "none earned attributed revenue.")


def test_kpi_summary():
    overview = pd.DataFrame({"metric": ["Revenue", "Orders", "Returns"], "change_pct": [24.4, None, -4.2]})
    assert s.kpi_summary(overview, "2025-06-01", "2025-06-30", "2025-05-02", "2025-05-31") == (
        "From 2025-06-01 to 2025-06-30, compared with 2025-05-02 to 2025-05-31: Revenue rose most (+24.4 %) "
        "while Returns fell most (-4.2 %).")
    flat = overview.assign(change_pct=0.0)
    assert s.kpi_summary(flat, "a", "b", "c", "d").endswith("every metric held steady.")


def test_monitors_summary():
    today = pd.DataFrame({"monitor": ["Orders down", "Refunds up", "Bounces"], "triggered": [True, False, True]})
    assert s.monitors_summary(today, "2025-06-30") == (
        "3 monitors evaluated for 2025-06-30: 2 triggered (Orders down and Bounces).")
    assert s.monitors_summary(today.assign(triggered=False), "2025-06-30").endswith("none triggered.")


def test_catalog_summary():
    timing = pd.DataFrame({"product_id": ["SKU-1", "SKU-2"], "buyers": [219, 396], "repeat_share_90d": [0.5, 0.535354]})
    assert s.catalog_summary(timing, "2023-07-02", "2025-06-30", 90) == (
        "From 2023-07-02 to 2025-06-30, 2 products were bought; SKU-2 has the most buyers (396), 53.5 % of whom "
        "ordered again within 90 days.")


def test_data_health_summary():
    row = pd.DataFrame([{"profiles": 3000, "events": 159215, "hours_old": 0.51, "fresh": True, "quarantined": 0}])
    assert s.data_health_summary(row, 48.0) == (
        "The workspace holds 3,000 profiles and 159,215 events; the newest event is 0.5 hours old, within the "
        "allowed 48 hours (fresh). No row is held back in quarantine.")
    stale = row.assign(hours_old=72.0, fresh=False, quarantined=12)
    assert s.data_health_summary(stale, 48.0).endswith(
        "beyond the allowed 48 hours (stale: reports built on it are out of date). 12 rows held back in quarantine.")


def test_activation_sync_and_import_summaries():
    changes = pd.DataFrame({"trigger": ["a", "b"], "changes": [3, 4], "deliveries": [1, 1]})
    status = pd.DataFrame({"trigger": ["a", "b", "b"], "status": ["sent", "sent", "pending"], "deliveries": [1, 1, 2]})
    handlers = pd.DataFrame({"handler": ["h"], "events": [10], "done": [9], "errors": [1], "gave_up": [0]})
    assert s.activation_summary(changes, status, handlers) == (
        "2 triggers ran and found 7 changes; outbox: 2 pending, 2 sent. 1 handler ran on 10 events with 1 error.")
    empty = pd.DataFrame(columns=["trigger", "changes", "deliveries"])
    assert s.activation_summary(empty, status.iloc[0:0], handlers.iloc[0:0]) == (
        "No enabled trigger ran (triggers ship with enabled: false); the outbox holds 0 deliveries.")
    sent = pd.DataFrame({"table": ["profiles", "events"], "sent": [3000, 159215], "seconds": [13.9, 13.9]})
    assert s.sync_summary(sent, "lake:/x") == (
        "This run sent 3,000 profiles rows and 159,215 events rows to lake:/x in 13.9 seconds; unchanged rows did "
        "not travel.")
    imported = pd.DataFrame([{"source_table": "customers", "table": "profiles", "read": 2, "loaded": 2,
                              "duplicates": 0, "quarantined": 0, "new_profiles": 1}])
    assert s.import_summary(imported) == (
        "Read 2 rows from customers into profiles: 2 loaded, 0 duplicates, 0 quarantined, 1 new profile.")
