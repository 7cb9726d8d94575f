"""Data health: freshness, daily volume, quarantine, and the data_health notebook end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from cdp_lib import health, reports as runner
from cdp_lib.errors import DataError, InputError
from cdp_lib.testing import workspace_from_frames

REPO = Path(__file__).parent.parent

EVENTS = pd.DataFrame({
    "event_id": [f"e{i}" for i in range(6)],
    "profile_id": ["a", "a", "b", "b", "c", "c"],
    "metric": ["Placed Order", "Viewed Product", "Placed Order", "Viewed Product", "Viewed Product", "Viewed Product"],
    "timestamp": ["2025-03-01T10:00:00Z", "2025-03-02T10:00:00Z", "2025-03-02T23:59:00Z",
                  "2025-03-05T01:00:00Z", "2025-03-05T02:00:00Z", "2025-03-07T00:00:00Z"],
    "value": [10.0, None, 20.0, None, None, None],
})


@pytest.fixture
def ws(tmp_path):
    w = workspace_from_frames(str(tmp_path / "ws.duckdb"), events=EVENTS)
    yield w
    w.close()


def test_freshness_measures_the_newest_event_before_as_of(ws):
    # End of 2025-03-06 is 23:59:59.999999; the 03-07 event is after it and ignored.
    status = health.freshness(ws, "2025-03-06", max_staleness_hours=48)
    assert status["newest_event"] == pd.Timestamp("2025-03-05T02:00:00Z")
    assert status["hours_old"] == 46.0 and status["fresh"]
    stale = health.freshness(ws, "2025-03-06", max_staleness_hours=24)
    assert not stale["fresh"]
    with pytest.raises(DataError, match=r"newest event is 46.0 hours old at 2025-03-06 23:59 UTC, more than max_staleness_hours=24"):
        health.require_fresh(stale, 24)


def test_freshness_without_events(ws):
    status = health.freshness(ws, "2025-02-01")
    assert status["newest_event"] is None and not status["fresh"]
    with pytest.raises(DataError, match="no events up to the as-of date"):
        health.require_fresh(status, 48)


def test_events_per_day_matches_a_pandas_count(ws):
    got = health.events_per_day_table(ws, days=7, as_of="2025-03-06").execute()
    ev = EVENTS.assign(day=pd.to_datetime(EVENTS.timestamp).dt.date)
    ev = ev[(ev.day >= dt.date(2025, 2, 28)) & (ev.day <= dt.date(2025, 3, 6))]
    want = ev.groupby(["day", "metric"]).size().reset_index(name="events")
    assert [(pd.Timestamp(d).date(), m, n) for d, m, n in got[["day", "metric", "events"]].itertuples(index=False)] == \
        list(want.itertuples(index=False, name=None))
    totals = health.daily_totals(got, 7, "2025-03-06")
    assert totals["events"].tolist() == [0, 1, 2, 0, 0, 2, 0]  # Feb 28 .. Mar 6, gaps filled with 0
    assert totals["day"].iloc[0] == dt.date(2025, 2, 28)


def test_quarantine_counts_by_table_and_reason(ws):
    q = pd.DataFrame({
        "ingest_id": ["i1"] * 3, "file": ["f.csv"] * 3, "table_name": ["events", "events", "profiles"],
        "line": [1, 2, 3], "reason": ["bad timestamp", "bad timestamp", "no identifier"], "raw": ["{}"] * 3,
        "quarantined_at": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-03"], utc=True),
    })
    ws.duckdb.register("_q", q)
    ws.duckdb.execute("INSERT INTO quarantine SELECT * FROM _q")
    got = health.quarantine_table(ws).execute()
    assert got[["table_name", "reason", "rows"]].values.tolist() == [["events", "bad timestamp", 2], ["profiles", "no identifier", 1]]
    assert health.table_sizes(ws).set_index("table")["rows"].to_dict()["quarantine"] == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"days": 0}, "days must be a whole number of days >= 1, got 0"),
    ({"max_staleness_hours": -1}, "max_staleness_hours must be a positive number, got -1"),
    ({"as_of": "last tuesday"}, "as_of must be an ISO date like 2025-03-31 or None, got 'last tuesday'"),
])
def test_bad_params(kwargs, match):
    with pytest.raises(InputError, match=match):
        health.HealthParams(**kwargs)


@pytest.mark.notebook
def test_data_health_notebook(tmp_path, ws):
    ws.close()
    db = str(tmp_path / "ws.duckdb")
    ok = runner.run_notebook(REPO / "notebooks/data_health.ipynb", {"as_of": "2025-03-06", "days": 7},
                             reports_dir=tmp_path / "reports", default_db=db)
    assert ok.status == "succeeded", ok.error
    assert ok.record["outputs"] == ["events_per_day.csv", "events_per_day.png", "health_summary.csv",
                                    "quarantine.csv", "table_sizes.csv"]
    summary = pd.read_csv(ok.run_dir / "health_summary.csv")
    assert summary[["profiles", "events", "hours_old", "fresh"]].values.tolist() == [[3, 6, 46.0, True]]
    stale = runner.run_notebook(REPO / "notebooks/data_health.ipynb",
                                {"as_of": "2025-03-06", "max_staleness_hours": 24.0, "fail_on_stale": True},
                                reports_dir=tmp_path / "reports", default_db=db)
    assert stale.status == "failed"
    assert stale.error.startswith("DataError: newest event is 46.0 hours old")
    assert json.loads((stale.run_dir / "run.json").read_text())["status"] == "failed"
    assert (stale.run_dir / "events_per_day.png").exists()  # outputs are saved before the check fails
