"""Ingest: formats, column mapping, typing, quarantine reasons, idempotence and atomicity."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cdp_lib import InputError, Workspace
from cdp_lib.ingest import ingest_file, plan_columns, quarantine_table
from ingest_helpers import check_counts, rows, snapshot, write

UTC = dt.timezone.utc


# -- column mapping -----------------------------------------------------------------------------
def test_default_spellings_map_to_canonical_columns():
    plan = plan_columns(
        "events",
        ["E-mail Address", "Customer ID", "Mobile", "Event Name", "occurred_at", "Revenue", "SKU", "Coupon"],
        {},
    )
    assert plan.canonical == {
        "email": "E-mail Address", "external_id": "Customer ID", "phone": "Mobile",
        "metric": "Event Name", "timestamp": "occurred_at", "value": "Revenue", "product_id": "SKU",
    }
    assert plan.custom == {"coupon": "Coupon"}


def test_exact_canonical_spelling_wins_and_the_other_becomes_custom():
    plan = plan_columns("profiles", ["Email Address", "email", "LoyaltyTier"], {})
    assert plan.canonical == {"email": "email"}
    assert plan.custom == {"email_address": "Email Address", "loyalty_tier": "LoyaltyTier"}


def test_explicit_map_wins_over_defaults():
    plan = plan_columns("events", ["when", "date", "kind", "who"], {"when": "timestamp", "KIND": "metric", "who": "email"})
    assert plan.canonical == {"timestamp": "when", "metric": "kind", "email": "who"}
    assert plan.custom == {"date": "date"}


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"nope": "email"}, "the file has no column 'nope'; its columns are 'a', 'b'"),
        ({"a": "emial"}, "'emial' is not a events column; expected one of event_id"),
        ({"a": "email", "b": "email"}, "maps both 'a' and 'b' to 'email'"),
    ],
)
def test_bad_explicit_map_is_an_input_error(mapping, message):
    with pytest.raises(InputError, match=message):
        plan_columns("events", ["a", "b"], mapping)


# -- loading and typing -------------------------------------------------------------------------
EVENTS_CSV = """\
Email,event,time,amount,order_id,coupon,items,gift
 Ann@Example.com ,Placed Order,2024-01-05T10:00:00Z,12.5,O-1,WELCOME10,2,true
ann@example.com,Placed Order,2024-01-05 12:00:00+02:00,7,O-2,,1,false
bob@example.com,Viewed Product,1704450000,,,,,
bob@example.com,Viewed Product,1704450000123,,,,,
bob@example.com,Opened Email,2024-01-06,,,,,
bob@example.com,Opened Email,20240107,,,,,
"""


def test_events_csv_is_parsed_typed_and_resolved(tmp_ws, tmp_path):
    result = ingest_file(tmp_ws, "events", write(tmp_path, "events.csv", EVENTS_CSV))
    check_counts(result)
    assert (result.rows, result.loaded, result.duplicates, result.quarantined) == (6, 6, 0, 0)
    assert result.new_profiles == 2
    got = tmp_ws.events.order_by("timestamp").execute()
    assert list(got["timestamp"]) == [
        pd.Timestamp("2024-01-05 10:00:00", tz=UTC),  # 12:00 at +02:00
        pd.Timestamp("2024-01-05 10:00:00", tz=UTC),
        pd.Timestamp("2024-01-05 10:20:00", tz=UTC),  # epoch seconds
        pd.Timestamp("2024-01-05 10:20:00.123", tz=UTC),  # epoch milliseconds
        pd.Timestamp("2024-01-06", tz=UTC),
        pd.Timestamp("2024-01-07", tz=UTC),  # compact date
    ]
    assert sorted(got["value"].dropna()) == [7.0, 12.5]
    # Extra columns became typed custom columns.
    types = dict(rows(tmp_ws, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'events'"))
    assert (types["coupon"], types["items"], types["gift"]) == ("VARCHAR", "BIGINT", "BOOLEAN")
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    # Both spellings of Ann's email are one profile; emails are stored normalised.
    per_profile = got.groupby("profile_id").size().sort_values().tolist()
    assert per_profile == [2, 4]
    assert sorted(tmp_ws.profiles.execute()["email"]) == ["ann@example.com", "bob@example.com"]


def test_same_content_in_csv_parquet_and_jsonl_gives_the_same_event_ids(tmp_path):
    df = pd.DataFrame({
        "email": ["a@x.com", "b@x.com", "a@x.com"],
        "metric": ["Placed Order", "Viewed Product", "Placed Order"],
        "timestamp": ["2024-01-05T10:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T08:30:00Z"],
        "value": [10.0, None, 2.5],
    })
    df.to_csv(tmp_path / "e.csv", index=False)
    typed = df.assign(timestamp=pd.to_datetime(df["timestamp"], utc=True))
    typed.to_parquet(tmp_path / "e.parquet")
    df.to_json(tmp_path / "e.jsonl", orient="records", lines=True)
    ids = {}
    for fmt in ("csv", "parquet", "jsonl"):
        with Workspace(tmp_path / f"{fmt}.duckdb") as ws:
            assert ingest_file(ws, "events", tmp_path / f"e.{fmt}").loaded == 3
            ids[fmt] = sorted(ws.events.execute()["event_id"])
    assert ids["csv"] == ids["parquet"] == ids["jsonl"]


def test_identical_rows_in_one_file_are_separate_events_and_reingest_is_a_noop(tmp_ws, tmp_path):
    # CDNOW has 255 rows that repeat another row exactly: two purchases on one day.
    text = "customer_id,date,metric,value\n7,1997-01-01,Placed Order,29.33\n7,1997-01-01,Placed Order,29.33\n7,1997-01-01,Placed Order,29.33\n"
    path = write(tmp_path, "cdnow.csv", text)
    first = ingest_file(tmp_ws, "events", path)
    assert (first.loaded, first.duplicates) == (3, 0)
    assert len(set(tmp_ws.events.execute()["event_id"])) == 3
    again = ingest_file(tmp_ws, "events", path)
    assert (again.rows, again.loaded, again.duplicates, again.quarantined) == (3, 0, 3, 0)
    assert tmp_ws.events.count().execute() == 3


def test_explicit_event_ids_deduplicate_within_the_file_and_against_the_store(tmp_ws, tmp_path):
    path = write(tmp_path, "e.csv", "event_id,email,metric,timestamp\ne1,a@x.com,M,2024-01-01\ne1,a@x.com,M,2024-01-02\ne2,a@x.com,M,2024-01-03\n")
    first = ingest_file(tmp_ws, "events", path)
    assert (first.loaded, first.duplicates) == (2, 1)
    kept = rows(tmp_ws, "SELECT event_id, timestamp::DATE::VARCHAR FROM events ORDER BY 1")
    assert kept == [("e1", "2024-01-01"), ("e2", "2024-01-03")]  # the first row of e1 wins
    path2 = write(tmp_path, "e2.csv", "event_id,email,metric,timestamp\ne2,a@x.com,M,2024-01-03\ne3,a@x.com,M,2024-01-04\n")
    second = ingest_file(tmp_ws, "events", path2)
    assert (second.loaded, second.duplicates) == (1, 1)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_reingesting_every_table_is_a_noop(tmp_path, fmt):
    profiles = pd.DataFrame({"external_id": ["c1", "c2"], "email": ["a@x.com", "b@x.com"], "first_name": ["Ann", "Bob"], "tier": ["gold", None]})
    events = pd.DataFrame({"external_id": ["c1", "c2"], "metric": ["Placed Order"] * 2, "timestamp": ["2024-01-01", "2024-01-02"], "value": [5.0, 6.0]})
    catalog = pd.DataFrame({"sku": ["A", "B"], "title": ["Mug", "Cap"], "price": [9.5, 12.0]})
    files = {}
    for name, df in (("profiles", profiles), ("events", events), ("catalog", catalog)):
        files[name] = tmp_path / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(files[name], index=False)
        elif fmt == "parquet":
            df.to_parquet(files[name])
        else:
            df.to_json(files[name], orient="records", lines=True)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        for name in ("catalog", "profiles", "events"):
            assert ingest_file(ws, name, files[name]).loaded == 2
        before = snapshot(ws)
        for name in ("catalog", "profiles", "events"):
            again = ingest_file(ws, name, files[name])
            assert (again.rows, again.loaded, again.duplicates, again.quarantined) == (2, 0, 2, 0)
        after = snapshot(ws)
    # Only the bookkeeping of the ingests themselves differs.
    before.pop("ingests"), after.pop("ingests")
    assert after == before


def test_reingesting_profiles_after_their_people_merged_is_a_noop(tmp_ws, tmp_path):
    # Two records of one person (the second known only by phone) become one profile when an
    # event carries both identifiers; the merged profile keeps the survivor's own values, and
    # loading the same profiles file again must agree with that instead of overwriting them.
    people = write(
        tmp_path, "people.csv",
        "email,phone,first_name,signup_source,tier\n"
        "ann@x.com,,Ann,web,\n"
        ",+1 617 555 0100,,pos,gold\n",
    )
    linking = write(
        tmp_path, "events.csv",
        "email,phone,metric,timestamp\nann@x.com,+1 617 555 0100,Subscribed to List,2024-05-01\n",
    )
    assert ingest_file(tmp_ws, "profiles", people).new_profiles == 2
    assert ingest_file(tmp_ws, "events", linking).merges == 1
    merged = rows(tmp_ws, "SELECT email, phone, first_name, signup_source, tier FROM profiles")
    assert merged == [("ann@x.com", "+16175550100", "Ann", "web", "gold")]
    before = snapshot(tmp_ws)
    again = ingest_file(tmp_ws, "profiles", people)
    assert (again.loaded, again.duplicates, again.merges) == (0, 2, 0)
    after = snapshot(tmp_ws)
    before.pop("ingests"), after.pop("ingests")
    assert after == before


def test_profiles_reingest_updates_attributes_without_blanking(tmp_ws, tmp_path):
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p1.csv", "customer_id,email,city,accepts_email\nc1,a@x.com,Lyon,yes\n"))
    update = ingest_file(tmp_ws, "profiles", write(tmp_path, "p2.csv", "customer_id,city,accepts_email\nc1,,unsubscribed\n"))
    assert (update.loaded, update.duplicates, update.new_profiles) == (1, 0, 0)
    got = rows(tmp_ws, "SELECT external_id, email, city, email_consent FROM profiles")
    assert got == [("c1", "a@x.com", "Lyon", False)]


def test_later_rows_of_one_person_win_within_a_file(tmp_ws, tmp_path):
    text = "email,first_name,city\na@x.com,Ann,Lyon\nA@X.com,,Paris\n"
    result = ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", text))
    assert (result.loaded, result.new_profiles) == (2, 1)
    assert rows(tmp_ws, "SELECT first_name, city FROM profiles") == [("Ann", "Paris")]


@pytest.mark.parametrize("word, expected", [
    ("yes", True), ("Y", True), ("1", True), ("TRUE", True), ("subscribed", True), ("opted_in", True),
    ("no", False), ("n", False), ("0", False), ("false", False), ("Unsubscribed", False), ("opted_out", False),
])
def test_consent_words(tmp_ws, tmp_path, word, expected):
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", f"email,sms_consent\na@x.com,{word}\n"))
    assert rows(tmp_ws, "SELECT sms_consent FROM profiles") == [(expected,)]


def test_custom_column_types_are_inferred_when_clear(tmp_ws, tmp_path):
    text = "email,visits,score,vip,last_seen,store_code,note\na@x.com,3,1.5,true,2024-01-02,02139,hi\nb@x.com,4,2,false,2024-02-03T04:05:06Z,10001,\n"
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", text))
    types = dict(rows(tmp_ws, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'profiles'"))
    assert [types[c] for c in ("visits", "score", "vip", "last_seen", "store_code", "note")] == [
        "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP WITH TIME ZONE", "VARCHAR", "VARCHAR"]
    assert rows(tmp_ws, "SELECT store_code FROM profiles ORDER BY 1") == [("02139",), ("10001",)]


def test_catalog_upsert_by_product_id(tmp_ws, tmp_path):
    first = ingest_file(tmp_ws, "catalog", write(tmp_path, "c.csv", "sku,name,price,color\nA,Mug,9.5,red\nB,Cap,12,\n"))
    assert (first.loaded, first.duplicates) == (2, 0)
    second = ingest_file(tmp_ws, "catalog", write(tmp_path, "c2.csv", "product_id,price\nA,10\nB,12\nC,3\n"))
    assert (second.loaded, second.duplicates) == (2, 1)
    assert rows(tmp_ws, "SELECT product_id, name, price, color FROM catalog ORDER BY 1") == [
        ("A", "Mug", 10.0, "red"), ("B", "Cap", 12.0, None), ("C", None, 3.0, None)]


# -- quarantine ---------------------------------------------------------------------------------
QUARANTINE_CASES = [
    ("events", "email,metric,timestamp,value\n,M,2024-01-01,1\n", "no identifier: set at least one of profile_id, external_id, email, phone"),
    ("events", "email,metric,timestamp\nnot-an-email,M,2024-01-01\n", "column \"email\": 'not-an-email' is not an email address"),
    ("events", "phone,metric,timestamp\n12,M,2024-01-01\n", "column \"phone\": '12' is not a phone number"),
    ("events", "phone,metric,timestamp\nN/A,M,2024-01-01\n", "no identifier"),  # no digit at all: no phone
    ("events", "email,metric,timestamp\na@x.com,,2024-01-01\n", 'missing metric: column "metric" is empty'),
    ("events", "email,metric,timestamp\na@x.com, ,2024-01-01\n", 'missing metric: column "metric" is empty'),
    ("events", "email,metric,timestamp\na@x.com,M,\n", 'missing timestamp: column "timestamp" is empty'),
    ("events", "email,metric,timestamp\na@x.com,M,31/12/2023\n", "column \"timestamp\": '31/12/2023' is not a timestamp \\(expected ISO 8601"),
    ("events", "email,metric,timestamp,value\na@x.com,M,2024-01-01,$5\n", "column \"value\": '\\$5' is not a number"),
    ("events", "email,metric,timestamp,qty\na@x.com,M,2024-01-01,two\n", "column \"qty\": 'two' is not a number"),
    ("profiles", "email,accepts_email\na@x.com,maybe\n", "column \"accepts_email\": 'maybe' is not a yes/no value"),
    ("profiles", "email,lat\na@x.com,123\n", "column \"lat\": '123' is not a latitude"),
    ("profiles", "email,created_at\na@x.com,yesterday\n", "column \"created_at\": 'yesterday' is not a timestamp"),
    ("profiles", "first_name\nAnn\n", None),  # no identifier column at all: file-level error
    ("catalog", "product_id,name\n,Mug\n", 'missing product_id: column "product_id" is empty'),
    ("catalog", "product_id,price\nA,cheap\n", "column \"price\": 'cheap' is not a number"),
    ("events", "email,metric,timestamp\na@x.com,M,2024-01-01\nb@x.com,M\n", "malformed CSV line: MISSING COLUMNS"),
]


@pytest.mark.parametrize("table, text, reason", QUARANTINE_CASES)
def test_every_quarantine_reason(tmp_ws, tmp_path, table, text, reason):
    path = write(tmp_path, "in.csv", text)
    if reason is None:
        with pytest.raises(InputError, match="has no profile_id or external_id or email or phone column"):
            ingest_file(tmp_ws, table, path)
        return
    result = ingest_file(tmp_ws, table, path)
    check_counts(result)
    assert result.quarantined == 1
    q = quarantine_table(tmp_ws)
    assert len(q) == 1 and q["ingest_id"].iloc[0] == result.ingest_id
    assert q["table_name"].iloc[0] == table and q["file"].iloc[0] == str(path)
    assert pd.Series(q["reason"]).str.contains(reason).iloc[0], q["reason"].iloc[0]
    # The raw row is kept so nothing is lost.
    assert q["raw"].iloc[0]


def test_quarantine_keeps_the_line_number_and_raw_values(tmp_ws, tmp_path):
    text = "email,metric,timestamp,value\na@x.com,M,2024-01-01,1\nb@x.com,M,2024-01-01,1,extra\nc@x.com,M,bad,1\nd@x.com,M,2024-01-01,1\n"
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", text))
    assert (result.rows, result.loaded, result.quarantined) == (4, 2, 2)
    q = quarantine_table(tmp_ws).sort_values("line")
    assert list(q["line"]) == [2, 3]
    assert json.loads(q["raw"].iloc[0]) == "b@x.com,M,2024-01-01,1,extra"
    assert json.loads(q["raw"].iloc[1]) == {"email": "c@x.com", "metric": "M", "timestamp": "bad", "value": "1"}


def test_malformed_json_lines_are_quarantined(tmp_ws, tmp_path):
    text = '{"email": "a@x.com", "metric": "M", "timestamp": "2024-01-01"}\n\nnot json\n[1, 2]\n{"email": "b@x.com", "metric": "M", "timestamp": 1704067200, "extra": {"k": 1}}\n'
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e.jsonl", text))
    assert (result.rows, result.loaded, result.quarantined) == (4, 2, 2)  # the blank line is no row
    q = quarantine_table(tmp_ws).sort_values("line")
    assert list(q["line"]) == [3, 4]
    assert list(q["reason"]) == ["malformed JSON line: not valid JSON",
                                 "malformed JSON line: expected an object {...}, found ARRAY"]
    assert rows(tmp_ws, "SELECT extra FROM events WHERE extra IS NOT NULL") == [('{"k":1}',)]


def test_custom_column_type_mismatch_with_an_earlier_ingest_is_quarantined(tmp_ws, tmp_path):
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p1.csv", "email,visits\na@x.com,3\n"))
    result = ingest_file(tmp_ws, "profiles", write(tmp_path, "p2.csv", "email,visits\nb@x.com,many\n"))
    assert result.quarantined == 1
    assert "holds BIGINT values from earlier ingests" in quarantine_table(tmp_ws)["reason"].iloc[0]


def test_file_without_metric_column_is_refused_whole(tmp_ws, tmp_path):
    before = snapshot(tmp_ws)
    with pytest.raises(InputError, match=r"has no metric column for events; its columns are 'email', 'when'; name one with --map COLUMN=metric"):
        ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", "email,when\na@x.com,2024-01-01\n"))
    assert snapshot(tmp_ws) == before


@pytest.mark.parametrize("name, content, message", [
    ("missing.csv", None, "does not exist"),
    ("events.txt", b"a,b\n", "unsupported type; expected one of"),
    ("latin1.csv", "email,metric,timestamp\ncafé@x.com,M,2024-01-01\n".encode("latin-1"), "is not UTF-8 text"),
    ("fake.parquet", b"email,metric\n", "cannot be read as Parquet"),
    ("empty.csv", b"", "is empty; expected a header line and rows"),
])
def test_unreadable_files_change_nothing(tmp_ws, tmp_path, name, content, message):
    ingest_file(tmp_ws, "events", write(tmp_path, "ok.csv", "email,metric,timestamp\na@x.com,M,2024-01-01\n"))
    before = snapshot(tmp_ws)
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        ingest_file(tmp_ws, "events", path)
    assert snapshot(tmp_ws) == before


# -- atomicity ----------------------------------------------------------------------------------
def _seeded_store(tmp_path: Path, ws: Workspace) -> Path:
    ingest_file(ws, "profiles", write(tmp_path, "p.csv", "customer_id,email,phone,created_at\nc1,a@x.com,,2020-01-01\nc2,,+15550001,2021-01-01\n"))
    ingest_file(ws, "events", write(tmp_path, "e0.csv", "email,metric,timestamp\na@x.com,M,2024-01-01\n"))
    # This file merges c1 and c2, adds a custom column, quarantines a row and loads events.
    return write(tmp_path, "e1.csv", "email,phone,metric,timestamp,coupon\na@x.com,+15550001,Placed Order,2024-02-01,X\nnew@x.com,,Placed Order,2024-02-02,\nz@x.com,,,2024-02-02,\n")


@pytest.mark.parametrize("step", ["read", "validate", "deduplicate", "resolve", "write"])
def test_injected_failure_leaves_every_table_as_before(tmp_ws, tmp_path, monkeypatch, step):
    path = _seeded_store(tmp_path, tmp_ws)
    before = snapshot(tmp_ws)
    monkeypatch.setenv("CDP_INGEST_FAULT", step)
    with pytest.raises(RuntimeError, match=f"injected failure after ingest step '{step}'"):
        ingest_file(tmp_ws, "events", path)
    assert snapshot(tmp_ws) == before
    # The same connection works afterwards and the ingest then goes through.
    monkeypatch.delenv("CDP_INGEST_FAULT")
    result = ingest_file(tmp_ws, "events", path)
    assert (result.loaded, result.quarantined, result.merges) == (2, 1, 1)


@pytest.mark.slow
def test_killed_ingest_process_leaves_the_workspace_unchanged(tmp_path):
    db = tmp_path / "ws.duckdb"
    with Workspace(db) as ws:
        path = _seeded_store(tmp_path, ws)
        before = snapshot(ws)
    marker = tmp_path / "paused"
    env = {**os.environ, "CDP_INGEST_FAULT": f"resolve:pause={marker}"}
    proc = subprocess.Popen([sys.executable, "-m", "cdp_lib.cli", "--db", str(db), "ingest", "events", str(path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "ingest ended before reaching the pause"
            assert time.monotonic() < deadline, "ingest never reached the pause"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # mid-transaction: merges and rows are written but not committed
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Workspace(db) as ws:
        assert snapshot(ws) == before
