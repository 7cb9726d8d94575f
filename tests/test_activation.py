"""Activation: signatures, trigger semantics on hand-written histories, file audiences, the outbox.

References are written here as plain loops and literals, sharing no code with cdp_lib.activation
(the receiver in activation_receiver.py has its own HMAC check).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from activation_receiver import Receiver, reference_verify
from cdp_lib.activation.deliver import backoff_seconds, deliver_pending
from cdp_lib.activation.run import enqueue_due
from cdp_lib.activation.signing import sign_headers, verify_signature
from cdp_lib.activation.store import Outbox
from cdp_lib.activation.triggers import load_triggers, parse_trigger
from cdp_lib.cli import main
from cdp_lib.errors import InputError, NotComputedError
from cdp_lib.rfm import refresh_rfm_profile_attributes
from cdp_lib.segments.history import ensure_tables, rebuild_current, store_members
from cdp_lib.testing import workspace_from_frames

SECRET = "test-secret-5f1c"
PROFILES = pd.DataFrame({
    "profile_id": list("abcdef"),
    "external_id": ["X1", "X2", "X3", "X4", "X5", "X6"],
    "email": [" Ann@Example.COM ", "bob@example.com", None, "dee@example.com", "eve@example.com", "fay@example.com"],
    "phone": ["(617) 555-0101", None, "+44 20 7946 0958", None, None, None],
    "email_consent": [True, False, True, True, True, True],
})


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def set_members(ws, segment: str, members: list[str], moment: str) -> None:
    """One refresh of `segment` with exactly `members`, stamped `moment` (the producer's own code)."""
    ensure_tables(ws)
    with ws.transaction():
        store_members(ws, segment, ibis.memtable(pd.DataFrame({"profile_id": pd.Series(members, dtype="string")})),
                      ts(moment), ts(moment))
        rebuild_current(ws)


def write_trigger(folder: Path, name: str, on: str, destination: str, extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name.replace(' ', '_')}.yaml").write_text(f"name: {name}\non: {on}\ndestination: {destination}\n{extra}")


def hook(url: str, batch_size: int = 100, extra: str = "") -> str:
    return (f'{{webhook: {{url: "{url}", secret_env: CDP_TEST_SECRET, batch_size: {batch_size}, timeout_seconds: 1, '
            f'backoff_base_seconds: 0.05, backoff_cap_seconds: 0.2{extra}}}}}')


@pytest.fixture
def env_secret(monkeypatch):
    monkeypatch.setenv("CDP_TEST_SECRET", SECRET)


@pytest.fixture
def receiver():
    r = Receiver(SECRET).start()
    yield r
    r.stop()


@pytest.fixture
def ws(tmp_path):
    w = workspace_from_frames(str(tmp_path / "cdp.duckdb"), profiles=PROFILES)
    yield w
    w.close()


def run_once(ws, folder, outbox):
    """Enqueue and send; returns the items the receiver got in this call (in order)."""
    enqueue_due(ws, load_triggers(folder), outbox)
    summary = deliver_pending(outbox, max_wait_seconds=10)
    assert summary.pending == 0 and summary.failed == 0, summary
    return summary


# -- signatures ---------------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_of_timestamp_dot_body_and_verifies():
    body = b'{"trigger":"t","items":[1]}'
    h = sign_headers(SECRET, "dlv_1", body, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert h["X-CDP-Signature"] == f"sha256={expected}"
    assert h["X-CDP-Timestamp"] == "1700000000" and h["X-CDP-Delivery"] == "dlv_1"
    assert reference_verify(SECRET, body, h["X-CDP-Timestamp"], h["X-CDP-Signature"], now=1_700_000_001)
    assert verify_signature(SECRET, body, h, now=1_700_000_001)
    # header names are case-insensitive, as in HTTP
    assert verify_signature(SECRET, body, {k.lower(): v for k, v in h.items()}, now=1_700_000_001)


@pytest.mark.parametrize("case", ["tampered body", "old timestamp", "future timestamp", "wrong secret",
                                  "no signature", "timestamp changed", "garbage timestamp"])
def test_verification_refuses_tampering_and_replays(case):
    body = b'{"items":[{"profile_id":"a"}]}'
    h = dict(sign_headers(SECRET, "d", body, timestamp=1_700_000_000))
    now, secret = 1_700_000_100, SECRET
    if case == "tampered body":
        body = body.replace(b'"a"', b'"b"')
    elif case == "old timestamp":
        now = 1_700_000_000 + 301
    elif case == "future timestamp":
        now = 1_700_000_000 - 301
    elif case == "wrong secret":
        secret = "other"
    elif case == "no signature":
        del h["X-CDP-Signature"]
    elif case == "timestamp changed":
        h["X-CDP-Timestamp"] = "1700000050"
    elif case == "garbage timestamp":
        h["X-CDP-Timestamp"] = "soon"
    assert not verify_signature(secret, body, h, now=now)


def test_backoff_doubles_with_jitter_and_is_capped():
    import random

    rng = random.Random(7)
    for attempt in range(1, 12):
        step = min(300.0, 1.0 * 2 ** (attempt - 1))
        for _ in range(50):
            wait = backoff_seconds(attempt, 1.0, 300.0, rng)
            assert step / 2 <= wait <= step
    waits = {round(backoff_seconds(3, 1.0, 300.0, rng), 6) for _ in range(20)}
    assert len(waits) > 10  # jittered, not a fixed delay


# -- segment triggers on hand-written histories ---------------------------------------------------------
def test_entered_left_reentered_across_runs(ws, tmp_path, env_secret, receiver):
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP, change: entered}", hook(receiver.url))
    write_trigger(folder, "Out of VIP", "{segment: VIP, change: left}", hook(receiver.url))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    set_members(ws, "VIP", ["a", "e"], "2025-05-01T23:59:59")  # older history: never replayed
    set_members(ws, "VIP", ["a", "b"], "2025-06-01T23:59:59")

    def got(trigger):
        return sorted((it["profile_id"], it["at"][:10]) for rec in receiver.unique().values()
                      if rec["body"]["trigger"] == trigger for it in rec["body"]["items"])

    run_once(ws, folder, outbox)  # first run: the latest refresh's changes only
    assert got("In VIP") == [("b", "2025-06-01")] and got("Out of VIP") == [("e", "2025-06-01")]
    set_members(ws, "VIP", ["a", "c"], "2025-06-02T23:59:59")  # b left, c entered
    run_once(ws, folder, outbox)
    assert got("In VIP") == [("b", "2025-06-01"), ("c", "2025-06-02")]
    assert got("Out of VIP") == [("b", "2025-06-02"), ("e", "2025-06-01")]
    set_members(ws, "VIP", ["a", "b", "c"], "2025-06-03T23:59:59")  # b re-entered
    run_once(ws, folder, outbox)
    run_once(ws, folder, outbox)  # nothing new: nothing sent again
    assert got("In VIP") == [("b", "2025-06-01"), ("b", "2025-06-03"), ("c", "2025-06-02")]
    assert got("Out of VIP") == [("b", "2025-06-02"), ("e", "2025-06-01")]
    assert all(r["verified"] for r in receiver.requests)
    body = next(iter(receiver.unique().values()))["body"]
    assert set(body) == {"trigger", "delivery_id", "sent_at", "items"}
    item = next(it for rec in receiver.unique().values() for it in rec["body"]["items"] if it["profile_id"] == "b")
    assert item["email"] == "bob@example.com" and item["external_id"] == "X2" and "phone" in item
    assert item["change"] in {"entered", "left"} and item["segment"] == "VIP"


def test_backfilled_history_never_fires(ws, tmp_path, env_secret, receiver):
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP, change: entered}", hook(receiver.url))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    set_members(ws, "VIP", ["a"], "2025-06-01T23:59:59")
    run_once(ws, folder, outbox)
    set_members(ws, "VIP", ["a", "b", "c"], "2025-06-02T23:59:59")
    # Another job reconstructs history and marks its rows; here c's spell is such a row.
    ws.duckdb.execute("ALTER TABLE segment_membership ADD COLUMN IF NOT EXISTS backfilled BOOLEAN")  # the column now ships
    ws.duckdb.execute("UPDATE segment_membership SET backfilled = (profile_id = 'c')")
    run_once(ws, folder, outbox)
    assert receiver.profiles() == ["a", "b"]


def test_unrefreshed_segment_is_refused_before_anything_is_stored(ws, tmp_path, env_secret):
    folder = tmp_path / "triggers"
    set_members(ws, "VIP", ["a"], "2025-06-01T23:59:59")
    write_trigger(folder, "A ok", "{segment: VIP}", hook("http://127.0.0.1:9/x"))
    write_trigger(folder, "B missing", "{segment: VIPP}", hook("http://127.0.0.1:9/x"))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    with pytest.raises(NotComputedError, match=r"segment 'VIPP' has no stored history; did you mean 'VIP'"):
        enqueue_due(ws, load_triggers(folder), outbox)
    assert outbox.status() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_segment_triggers_match_a_loop_reference(tmp_path_factory, data):
    people = list("abcdef")
    n_refresh = data.draw(st.integers(1, 7))
    sets = [sorted(data.draw(st.sets(st.sampled_from(people)))) for _ in range(n_refresh)]
    runs_after = sorted(data.draw(st.sets(st.integers(0, n_refresh - 1), min_size=1)))
    tmp = tmp_path_factory.mktemp("hyp")
    w = workspace_from_frames(":memory:", profiles=PROFILES)
    triggers = [parse_trigger({"name": c, "on": {"segment": "S", "change": c},
                               "destination": {"file": {"path": str(tmp / f"{c}.jsonl")}}}) for c in ("entered", "left")]
    outbox = Outbox(tmp / "outbox.sqlite")
    got = {"entered": [], "left": []}
    expected = {"entered": [], "left": []}
    last_run = None
    for i, members in enumerate(sets):
        set_members(w, "S", members, f"2025-06-{i + 1:02d}T23:59:59")
        if i not in runs_after:
            continue
        # Reference: changes of every refresh since the previous run; the first run sees the latest only.
        first = i if last_run is None else last_run + 1
        for j in range(first, i + 1):
            before = set(sets[j - 1]) if j > 0 else set()
            now = set(sets[j])
            expected["entered"] += [(p, j) for p in sorted(now - before)]
            expected["left"] += [(p, j) for p in sorted(before - now)]
        last_run = i
        for t in triggers:
            from cdp_lib.activation.run import enqueue_trigger

            enqueue_trigger(w, t, outbox, run_id=f"r{i}")
    for row in outbox.deliveries(limit=10_000):
        body = json.loads(row["body"])
        got[row["trigger"]] += [(it["profile_id"], int(it["at"][8:10]) - 1) for it in body["items"]]
    w.close()
    assert sorted(got["entered"]) == sorted(expected["entered"])
    assert sorted(got["left"]) == sorted(expected["left"])


# -- RFM triggers ---------------------------------------------------------------------------------------
def write_rfm(ws, as_of: str, groups: dict[str, str]) -> None:
    rows = pd.DataFrame({"as_of": pd.to_datetime([as_of] * len(groups)).date, "profile_id": list(groups),
                         "recency_days": 1, "frequency": 1, "monetary": 1.0, "r_score": 1, "f_score": 1, "m_score": 1,
                         "rfm_group": list(groups.values())})
    if ws.has_table("rfm_snapshots"):
        old = ws.table("rfm_snapshots").execute()
        old["as_of"] = pd.to_datetime(old["as_of"]).dt.date
        rows = pd.concat([old[old["as_of"].astype(str) != as_of], rows], ignore_index=True)
    ws.write_table("rfm_snapshots", rows)
    refresh_rfm_profile_attributes(ws)


def test_rfm_group_changes_between_runs(ws, tmp_path, env_secret, receiver):
    folder = tmp_path / "triggers"
    write_trigger(folder, "Slipping", "{rfm: {from: [Champions, Loyal], to: [At Risk, Needs Attention]}}", hook(receiver.url))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    write_rfm(ws, "2025-06-01", {"a": "Champions", "b": "Loyal", "c": "Recent", "d": "At Risk"})
    run_once(ws, folder, outbox)
    assert receiver.profiles() == []  # first groups: nobody came *from* Champions or Loyal
    write_rfm(ws, "2025-06-08", {"a": "At Risk", "b": "Needs Attention", "c": "At Risk", "d": "At Risk"})
    run_once(ws, folder, outbox)
    assert receiver.profiles() == ["a", "b"]  # c came from Recent, d did not change
    write_rfm(ws, "2025-06-15", {"a": "Champions", "b": "Needs Attention", "c": "At Risk", "d": "At Risk"})
    run_once(ws, folder, outbox)
    write_rfm(ws, "2025-06-22", {"a": "At Risk", "b": "Needs Attention", "c": "At Risk", "d": "At Risk"})
    run_once(ws, folder, outbox)
    run_once(ws, folder, outbox)
    items = sorted((it["profile_id"], it["from"], it["to"], it["at"]) for rec in receiver.unique().values()
                   for it in rec["body"]["items"])
    assert items == [("a", "Champions", "At Risk", "2025-06-08"), ("a", "Champions", "At Risk", "2025-06-22"),
                     ("b", "Loyal", "Needs Attention", "2025-06-08")]


def test_profile_filter_uses_segment_conditions(ws, tmp_path, env_secret, receiver):
    folder = tmp_path / "triggers"
    write_trigger(folder, "Reachable", "{segment: VIP}", hook(receiver.url),
                  "filter: [{can_receive: email}, {property: email, op: contains, value: '@'}]\n")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    set_members(ws, "VIP", ["a", "b", "c", "d"], "2025-06-01T23:59:59")
    run_once(ws, folder, outbox)
    # b has no email consent, c no email
    assert receiver.profiles() == ["a", "d"]


# -- metric triggers ------------------------------------------------------------------------------------
def test_metric_trigger_sends_each_event_once_even_late_and_out_of_order(tmp_path, env_secret, receiver):
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e0"],
        "profile_id": ["a", "b", "a", "c"],
        "metric": ["Unsubscribed", "Unsubscribed", "Clicked Email", "Unsubscribed"],
        "timestamp": ["2025-06-10T10:00:00Z", "2025-06-10T10:00:00Z", "2025-06-11T00:00:00Z", "2025-05-01T00:00:00Z"],
    })
    db = tmp_path / "cdp.duckdb"
    w = workspace_from_frames(str(db), profiles=PROFILES, events=events)
    folder = tmp_path / "triggers"
    write_trigger(folder, "Unsubs", "{metric: Unsubscribed}", hook(receiver.url, batch_size=1), "since: 2025-06-01\n")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    run_once(w, folder, outbox)
    # A late event older than the newest seen (within late_days) and a new one arrive.
    w.duckdb.execute("INSERT INTO events (event_id, profile_id, metric, timestamp) VALUES "
                     "('e4', 'd', 'Unsubscribed', TIMESTAMPTZ '2025-06-09 08:00:00+00'), "
                     "('e5', 'e', 'Unsubscribed', TIMESTAMPTZ '2025-06-12 08:00:00+00')")
    run_once(w, folder, outbox)
    run_once(w, folder, outbox)
    w.close()
    got = sorted(it["event"]["event_id"] for rec in receiver.unique().values() for it in rec["body"]["items"])
    assert got == ["e1", "e2", "e4", "e5"]  # e0 is before `since`, e3 another metric
    assert len(receiver.unique()) == 4  # batch_size 1
    one = next(rec["body"]["items"][0] for rec in receiver.unique().values()
               if rec["body"]["items"][0]["event"]["event_id"] == "e1")
    assert one["profile_id"] == "a" and one["event"]["metric"] == "Unsubscribed"
    assert one["event"]["timestamp"].startswith("2025-06-10T10:00:00")


# -- file destinations ------------------------------------------------------------------------------------
def test_hashed_file_audience_matches_hand_computed_sha256(ws, tmp_path):
    folder = tmp_path / "triggers"
    write_trigger(folder, "Ads", "{segment: VIP}", f'{{file: {{path: "{tmp_path}/aud/vip.csv", hash_identifiers: true}}}}')
    outbox = Outbox(tmp_path / "outbox.sqlite")
    set_members(ws, "VIP", ["a", "b", "c"], "2025-06-01T23:59:59")
    enqueue_due(ws, load_triggers(folder), outbox, run_id="run1")
    deliver_pending(outbox)
    df = pd.read_csv(tmp_path / "aud" / "vip-run1.csv", dtype=str, keep_default_na=False)
    assert list(df.columns) == ["email_sha256", "phone_sha256"]
    rows = sorted(map(tuple, df.values.tolist()))
    # sha256("ann@example.com"), sha256("+16175550101"), sha256("bob@example.com"), sha256("+442079460958")
    assert rows == sorted([
        ("71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476",
         "67ed5d36f68e5bf56943cf78ad1ff2860373342ab246826bf70a1cb1f6a4d4c4"),
        (hashlib.sha256(b"bob@example.com").hexdigest(), ""),
        ("", "f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d"),
    ])
    raw = (tmp_path / "aud" / "vip-run1.csv").read_text() + Path(outbox.path).read_bytes().decode("latin-1")
    assert "example.com" not in raw.lower() and "555" not in raw  # no raw identifier, not even in the outbox


def test_jsonl_file_per_run_with_plain_identifiers(ws, tmp_path):
    folder = tmp_path / "triggers"
    write_trigger(folder, "Plain", "{segment: VIP}", f'{{file: {{path: "{tmp_path}/out/{{run_id}}/vip.jsonl"}}}}')
    outbox = Outbox(tmp_path / "outbox.sqlite")
    set_members(ws, "VIP", ["a"], "2025-06-01T23:59:59")
    enqueue_due(ws, load_triggers(folder), outbox, run_id="r1")
    set_members(ws, "VIP", ["a", "d"], "2025-06-02T23:59:59")
    enqueue_due(ws, load_triggers(folder), outbox, run_id="r2")
    enqueue_due(ws, load_triggers(folder), outbox, run_id="r3")  # nothing new: no file
    deliver_pending(outbox)
    lines = {r: [json.loads(x) for x in (tmp_path / "out" / r / "vip.jsonl").read_text().splitlines()] for r in ("r1", "r2")}
    assert [x["profile_id"] for x in lines["r1"]] == ["a"] and [x["profile_id"] for x in lines["r2"]] == ["d"]
    assert lines["r2"][0]["email"] == "dee@example.com" and not (tmp_path / "out" / "r3").exists()


# -- validation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("name: T\non: {segment: S, change: joined}\ndestination: {file: {path: a.csv}}", r"on.change: expected 'entered' or 'left'"),
    ("name: T\non: {rfm: {from: [Champion], to: [At Risk]}}\ndestination: {file: {path: a.csv}}",
     r"on.rfm.from: unknown RFM group 'Champion'; did you mean 'Champions'"),
    ("name: T\non: {segment: S}\ndestination: {webhook: {url: 'http://x/h'}}", r"give exactly one of secret_env"),
    ("name: T\non: {segment: S}\ndestination: {webhook: {url: 'ftp://x/h', secret_env: X}}", r"expected an http\(s\) URL"),
    ("name: T\non: {segment: S}\ndestination: {webhook: {url: 'http://x/h', secret: hunter2}}", r"unknown key; did you mean 'secret_env'"),
    ("name: T\non: {segment: S}\ndestination: {webhook: {url: 'http://x/h', secret_env: X, batch_size: 0}}",
     r"batch_size: expected a whole number >= 1"),
    ("name: T\non: {segment: S}\ndestinaton: {file: {path: a.csv}}", r"unknown key; did you mean 'destination'"),
    ("name: T\non: {metric: X}\nfilter: [{property: email, op: sounds_like, value: x}]\ndestination: {file: {path: a.csv}}",
     r"filter: .*op"),
    ("name: T\non: {segment: S}\ndestination: {file: {path: a.csv, hash_identifiers: yes please}}",
     r"hash_identifiers: expected true or false"),
])
def test_bad_trigger_files_give_one_line_naming_file_and_key(tmp_path, text, message, capsys):
    folder = tmp_path / "triggers"
    folder.mkdir()
    (folder / "t.yaml").write_text(text)
    with pytest.raises(InputError, match=message):
        load_triggers(folder)
    code = main(["--db", str(tmp_path / "cdp.duckdb"), "activation", "run", "--triggers", str(folder)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "t.yaml" in err
    assert not (tmp_path / "cdp.activation.sqlite").exists() or Outbox(tmp_path / "cdp.activation.sqlite").status() == []


# -- the outbox under failures ------------------------------------------------------------------------------
def test_retries_timeouts_500_429_hangups_and_refused_then_delivers_once(ws, tmp_path, env_secret):
    r = Receiver(SECRET, timeout_sleep=1.5).start()
    port = int(r.url.split(":")[2].split("/")[0])
    r.plan = ["timeout", 500, 429, 503, "drop"]
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP}", hook(r.url, batch_size=2))
    outbox = Outbox(tmp_path / "outbox.sqlite")
    set_members(ws, "VIP", list("abcde"), "2025-06-01T23:59:59")
    enqueue_due(ws, load_triggers(folder), outbox)
    s = deliver_pending(outbox, max_wait_seconds=20)
    assert (s.delivered, s.failed, s.pending) == (3, 0, 0)
    assert r.profiles() == list("abcde")
    # The timed-out attempt reached the receiver and was accepted late: a duplicate, same delivery id.
    deadline = time.time() + 5
    while len(r.accepted) < 4 and time.time() < deadline:
        time.sleep(0.05)
    assert len(r.accepted) == 4 and len(r.unique()) == 3
    outcomes = [a["outcome"] for a in outbox.attempts(limit=100)]
    assert outcomes.count("retry") == 5 and outcomes.count("delivered") == 3
    assert any("RemoteDisconnected" in (a["error"] or "") for a in outbox.attempts(limit=100))
    # Refused connections: the receiver is down for a while, then back on the same port.
    r.stop()
    set_members(ws, "VIP", list("abcdef"), "2025-06-02T23:59:59")
    enqueue_due(ws, load_triggers(folder), outbox)
    s = deliver_pending(outbox, max_wait_seconds=0.3)
    assert s.pending == 1 and s.delivered == 0
    assert "connection error" in outbox.attempts(limit=1)[0]["error"]
    r2 = Receiver(SECRET, port=port).start()
    try:
        s = deliver_pending(outbox, max_wait_seconds=10)
        assert s.delivered == 1 and r2.profiles() == ["f"]
    finally:
        r2.stop()


@pytest.mark.parametrize("refusal", [400, 302])
def test_other_4xx_and_redirects_fail_at_once_and_retry_sends_again(ws, tmp_path, env_secret, receiver, capsys, refusal):
    receiver.plan = [refusal]
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP}", hook(receiver.url))
    db = str(ws.path)
    set_members(ws, "VIP", ["a"], "2025-06-01T23:59:59")
    outbox = Outbox.for_workspace(db)
    enqueue_due(ws, load_triggers(folder), outbox)
    s = deliver_pending(outbox)
    assert (s.delivered, s.failed) == (0, 1) and len(receiver.requests) == 1
    ws.close()
    assert main(["--db", db, "activation", "status"]) == 0
    assert "failed" in capsys.readouterr().out
    assert main(["--db", db, "activation", "log"]) == 0
    assert f"HTTP {refusal} (not retried" in capsys.readouterr().out
    assert main(["--db", db, "activation", "retry"]) == 0
    assert "1 delivered" in capsys.readouterr().out
    assert receiver.profiles() == ["a"]


def test_missing_secret_keeps_deliveries_pending_and_never_shows_a_value(ws, tmp_path, monkeypatch, receiver, capsys):
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP}", hook(receiver.url))
    set_members(ws, "VIP", ["a"], "2025-06-01T23:59:59")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    monkeypatch.delenv("CDP_TEST_SECRET", raising=False)
    with pytest.raises(InputError, match=r"In_VIP.yaml: webhook secret: environment variable CDP_TEST_SECRET is not set"):
        enqueue_due(ws, load_triggers(folder), outbox)  # refused before anything is stored
    assert outbox.status() == []
    monkeypatch.setenv("CDP_TEST_SECRET", SECRET)
    enqueue_due(ws, load_triggers(folder), outbox)
    monkeypatch.delenv("CDP_TEST_SECRET")  # gone by the time of sending: kept pending, not dropped
    s = deliver_pending(outbox, max_wait_seconds=0)
    assert s.pending == 1 and receiver.requests == []
    assert "CDP_TEST_SECRET is not set" in outbox.attempts(limit=1)[0]["error"]
    monkeypatch.setenv("CDP_TEST_SECRET", SECRET)
    outbox.retry()
    assert deliver_pending(outbox).delivered == 1
    dump = Path(outbox.path).read_bytes() + capsys.readouterr().out.encode()
    assert SECRET.encode() not in dump


def test_crash_after_enqueue_loses_nothing(ws, tmp_path, env_secret, receiver):
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP}", hook(receiver.url))
    set_members(ws, "VIP", ["a", "b"], "2025-06-01T23:59:59")
    enqueue_due(ws, load_triggers(folder), Outbox(tmp_path / "outbox.sqlite"))  # ... and the process dies
    enqueue_due(ws, load_triggers(folder), Outbox(tmp_path / "outbox.sqlite"))  # a rerun computes nothing new
    assert deliver_pending(Outbox(tmp_path / "outbox.sqlite")).delivered == 1
    assert receiver.profiles() == ["a", "b"]


@pytest.mark.slow
def test_kill_9_mid_batch_and_receiver_down_every_profile_arrives_once(tmp_path):
    people = [f"p{i:03d}" for i in range(60)]
    db = tmp_path / "cdp.duckdb"
    w = workspace_from_frames(str(db), profiles=pd.DataFrame({"profile_id": people,
                                                             "email": [f"{p}@example.com" for p in people]}))
    set_members(w, "VIP", people, "2025-06-01T23:59:59")
    w.close()
    r = Receiver(SECRET).start()
    r.delay = 0.15
    port = int(r.url.split(":")[2].split("/")[0])
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP}", hook(r.url, batch_size=4))
    env = {**os.environ, "CDP_TEST_SECRET": SECRET}
    cmd = [sys.executable, "-m", "cdp_lib.cli", "--db", str(db), "activation", "run", "--triggers", str(folder),
           "--code", str(tmp_path / "no-code"), "--max-wait", "5"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while len(r.requests) < 4 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-batch: some batches sent, one maybe in flight
    proc.wait()
    sent_before_kill = len(r.unique())
    assert 0 < sent_before_kill < 15
    r.stop()  # the receiver goes down for a while: every attempt is refused
    down = subprocess.run(cmd[:-1] + ["0.5"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert "pending" in down.stdout
    r2 = Receiver(SECRET, port=port).start()
    try:
        up = subprocess.run([sys.executable, "-m", "cdp_lib.cli", "--db", str(db), "activation", "retry"],
                            env=env, capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stderr
        got = r.profiles() + r2.profiles()
        ids_before = set(r.unique())
        # de-duplicated by delivery id across both receiver lives: every profile exactly once
        merged = {**r.unique(), **{k: v for k, v in r2.unique().items() if k not in ids_before}}
        profiles = sorted(it["profile_id"] for rec in merged.values() for it in rec["body"]["items"])
        assert profiles == people
        assert all(x["verified"] for x in r.requests + r2.requests)
        assert len(got) >= len(people)
        status = subprocess.run([sys.executable, "-m", "cdp_lib.cli", "--db", str(db), "activation", "status", "--json"],
                                capture_output=True, text=True, timeout=60)
        rows = json.loads(status.stdout)
        assert [(x["status"], x["items"]) for x in rows] == [("delivered", 60)]
        assert SECRET not in down.stdout + down.stderr + up.stdout + up.stderr
    finally:
        r2.stop()


# -- the scheduler's failure webhook ------------------------------------------------------------------------
def test_scheduler_failure_webhook_is_signed_and_queued_when_down(tmp_path, monkeypatch):
    from cdp_lib.reports import schedule as sched

    monkeypatch.setenv("CDP_WEBHOOK_SECRET", SECRET)
    r = Receiver(SECRET).start()
    try:
        db = tmp_path / "cdp.duckdb"
        workspace_from_frames(str(db), profiles=PROFILES).close()
        assert sched.notify_webhook(r.url, {"event": "job_failed", "job": "x"}, timeout=2, db=db)
        (rec,) = r.accepted
        assert rec["verified"] and rec["body"] == {"event": "job_failed", "job": "x"} and rec["delivery_id"]
    finally:
        r.stop()
    # Receiver down: not delivered now, but kept in the workspace's outbox for 'cdp activation retry'.
    assert not sched.notify_webhook(r.url, {"event": "job_failed", "job": "y"}, timeout=1, db=db)
    pending = Outbox.for_workspace(db).deliveries(status="pending")
    assert [json.loads(p["body"])["job"] for p in pending] == ["y"]


# -- end to end, as the README tells it ------------------------------------------------------------------
@pytest.mark.slow
def test_readme_flow_refresh_then_entered_at_risk_posted_signed(demo_ws, tmp_path, env_secret, receiver, capsys):
    db = str(demo_ws.path)
    demo_ws.close()
    assert main(["--db", db, "rfm", "--as-of", "2025-06-30", "--out", str(tmp_path / "rfm.csv")]) == 0
    segments = tmp_path / "segments"  # the shipped definition alone (the others need 'cdp clv' too)
    segments.mkdir()
    shipped = Path(__file__).resolve().parents[1] / "parameters" / "segments" / "at_risk_or_needs_attention.yaml"
    (segments / "at_risk.yaml").write_text(shipped.read_text())
    assert main(["--db", db, "segment", "refresh", "--as-of", "2025-06-30", "--folder", str(segments)]) == 0
    folder = tmp_path / "triggers"
    write_trigger(folder, "Entered at risk", "{segment: At Risk or Needs Attention, change: entered}", hook(receiver.url))
    capsys.readouterr()
    assert main(["--db", db, "activation", "run", "--triggers", str(folder), "--code", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    # Reference: the RFM groups file written by `cdp rfm`, filtered with plain pandas.
    rfm = pd.read_csv(tmp_path / "rfm.csv", dtype={"profile_id": str})
    expected = sorted(rfm.loc[rfm["rfm_group"].isin(["At Risk", "Needs Attention"]), "profile_id"])
    assert expected and receiver.profiles() == expected
    assert all(r["verified"] for r in receiver.requests) and "delivered" in out
    # Running again without a new refresh sends nothing more.
    assert main(["--db", db, "activation", "run", "--triggers", str(folder), "--code", str(tmp_path / "none")]) == 0
    assert receiver.profiles() == expected


@pytest.mark.notebook
def test_activation_notebook_runs_under_cdp_run(ws, tmp_path, env_secret, receiver):
    folder = tmp_path / "triggers"
    write_trigger(folder, "In VIP", "{segment: VIP}", hook(receiver.url))
    set_members(ws, "VIP", ["a", "b"], "2025-06-01T23:59:59")
    db = str(ws.path)
    ws.close()
    (tmp_path / "p.yaml").write_text(f"triggers: {folder}\ncode: {tmp_path / 'none'}\nmax_wait_seconds: 5\n")
    code = main(["--db", db, "run", "activation", "-f", str(tmp_path / "p.yaml"), "--reports-dir", str(tmp_path / "reports")])
    assert code == 0
    assert receiver.profiles() == ["a", "b"]
    run_dir = next((tmp_path / "reports" / "activation").iterdir())
    status = pd.read_csv(run_dir / "outbox_status.csv")
    assert status[["trigger", "status", "items"]].values.tolist() == [["In VIP", "delivered", 2]]


def test_signing_docstring_examples_run():
    import doctest

    import cdp_lib.activation.signing as signing

    result = doctest.testmod(signing)
    assert result.attempted >= 3 and result.failed == 0


def test_shipped_triggers_and_example_handler_are_valid_and_disabled():
    from cdp_lib.activation.code import load_handler, load_handlers

    repo = Path(__file__).resolve().parents[1]
    triggers = load_triggers(repo / "parameters" / "triggers")
    assert {t.name for t in triggers} == {"Entered at risk", "Slipping best customers", "Unsubscribed audience"}
    assert not any(t.enabled for t in triggers)  # nothing is sent until a user points them somewhere
    at_risk = next(t for t in triggers if t.name == "Entered at risk")
    assert (at_risk.kind, at_risk.segment, at_risk.change) == ("segment", "At Risk or Needs Attention", "entered")
    example = load_handler(repo / "parameters" / "code" / "_example_last_order.py")
    assert example.metrics == ("Placed Order",) and example.timeout_seconds == 5
    assert load_handlers(repo / "parameters" / "code") == []  # '_' files are examples, not run
