"""Issue 10, class 3: timestamps outside 1900-01-01..2200-01-01 are quarantined at ingest, and
every command copes with such values already stored (by an earlier version or another tool)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cdp_lib import Workspace
from cdp_lib.ingest import ingest_file, quarantine_table
from ingest_helpers import assert_no_traceback, cdp, check_counts, rows, write

FAR = ["infinity", "-infinity", "0001-01-01", "294247-01-01", "0044-03-15 BC", "1899-12-31T23:59:59Z",
       "2200-01-01", "12000-06-01T00:00:00Z"]
NEAR = ["1900-01-01", "2199-12-31T23:59:59Z", "2024-05-06 07:08:09+02:00"]


@pytest.mark.parametrize("value", FAR)
def test_far_event_times_are_quarantined_with_the_range(tmp_ws, tmp_path, value):
    path = write(tmp_path, "e.csv", f"email,metric,timestamp\na@x.com,M,{value}\nb@x.com,M,2024-01-01\n")
    result = ingest_file(tmp_ws, "events", path)
    check_counts(result)
    assert (result.loaded, result.quarantined) == (1, 1)
    reason = quarantine_table(tmp_ws)["reason"].iloc[0]
    assert "allowed range 1900-01-01 to 2200-01-01" in reason


@pytest.mark.parametrize("value", NEAR)
def test_times_inside_the_range_load(tmp_ws, tmp_path, value):
    path = write(tmp_path, "e.csv", f"email,metric,timestamp\na@x.com,M,{value}\n")
    assert ingest_file(tmp_ws, "events", path).loaded == 1


def test_profiles_created_at_and_custom_times_far_out_are_quarantined(tmp_ws, tmp_path):
    lines = ["email,created_at,last_seen", "a@x.com,0001-01-01,2024-01-01", "b@x.com,2024-01-01,infinity",
             "c@x.com,2024-01-01,2024-02-01"]
    result = ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", "\n".join(lines) + "\n"))
    check_counts(result)
    # last_seen is a text column holding one non-time: it stays text, nothing is lost.
    assert (result.loaded, result.quarantined) == (2, 1)


def test_jsonl_and_parquet_far_times(tmp_ws, tmp_path):
    jl = tmp_path / "e.jsonl"
    jl.write_text('{"email": "a@x.com", "metric": "M", "timestamp": "infinity"}\n'
                  '{"email": "b@x.com", "metric": "M", "timestamp": 1706700000}\n')
    result = ingest_file(tmp_ws, "events", jl)
    assert (result.loaded, result.quarantined) == (1, 1)
    pq = tmp_path / "e.parquet"
    pd.DataFrame({"email": ["c@x.com", "d@x.com"], "metric": ["M", "M"],
                  "timestamp": [pd.Timestamp("1850-01-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC")]}).to_parquet(pq)
    result = ingest_file(tmp_ws, "events", pq)
    assert (result.loaded, result.quarantined) == (1, 1)


def _poison(db_path) -> None:
    """Write far-out values straight into a workspace, as an older version could have."""
    import duckdb

    con = duckdb.connect(str(db_path))
    pid = con.execute("SELECT min(profile_id) FROM profiles").fetchone()[0]
    for i, ts in enumerate(["infinity", "-infinity", "0001-01-01", "294247-01-01"]):
        con.execute(f"INSERT INTO events (event_id, profile_id, metric, timestamp, value) "
                    f"VALUES ('far{i}', '{pid}', 'Placed Order', '{ts}'::TIMESTAMPTZ, 10)")
    con.execute("INSERT INTO events (event_id, profile_id, metric, timestamp, value) "
                "VALUES ('bc', ?, 'Placed Order', make_timestamptz(-43, 3, 15, 0, 0, 0), 5)", [pid])
    con.execute("UPDATE profiles SET created_at = 'infinity'::TIMESTAMPTZ WHERE profile_id = ?", [pid])
    con.execute("UPDATE profiles SET created_at = '-infinity'::TIMESTAMPTZ WHERE profile_id IN "
                "(SELECT profile_id FROM profiles ORDER BY profile_id LIMIT 5 OFFSET 1)")
    con.close()


def test_workspace_hides_far_values_already_stored(demo_store_path, tmp_path):
    import shutil

    db = tmp_path / "w.duckdb"
    shutil.copyfile(demo_store_path, db)
    ws = Workspace(db, read_only=True)
    n_events = ws.events.count().execute()
    ws.close()
    _poison(db)
    ws = Workspace(db, read_only=True)
    try:
        assert ws.events.count().execute() == n_events  # the five far events are hidden
        assert ws.duckdb.execute("SELECT count(*) FROM events").fetchone()[0] == n_events + 5
        df = ws.profiles.select("profile_id", "created_at").to_pandas()  # converts without error
        assert df["created_at"].isna().sum() >= 6
        assert ws.summary()["events_out_of_range"] == 5
    finally:
        ws.close()


@pytest.mark.slow
def test_commands_do_not_traceback_on_far_values_already_stored(demo_store_path, tmp_path):
    import shutil

    db = tmp_path / "w.duckdb"
    shutil.copyfile(demo_store_path, db)
    _poison(db)
    info = cdp("info", "--json", db=db)
    assert_no_traceback(info)
    assert info.returncode == 0 and json.loads(info.stdout)["events_out_of_range"] == 5
    for args in (["info"], ["rfm", "--as-of", "2025-06-30", "--force"],
                 ["segment", "run", "Engaged 30 days", "--as-of", "2025-06-30"],
                 ["segment", "run", "Recent subscribers, no order", "--as-of", "2025-06-30"],
                 ["cohort", "--period", "month"],
                 ["funnel", "--step", "Viewed Product", "--step", "Placed Order"]):
        proc = cdp(*args, db=db)
        assert_no_traceback(proc)
        assert proc.returncode == 0, (args, proc.stderr)
    # refresh needs CLV attributes first: a one-line refusal, not a traceback
    assert_no_traceback(cdp("segment", "refresh", "--as-of", "2025-06-30", db=db))
