"""Code on events: exactly once per event across reruns, timeouts, exceptions, returned properties."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cdp_lib.activation.code import load_handler, run_handlers
from cdp_lib.activation.store import Outbox
from cdp_lib.cli import main
from cdp_lib.errors import InputError
from cdp_lib.testing import workspace_from_frames
from cdp_lib.workspace import Workspace

EVENTS = pd.DataFrame({
    "event_id": ["o1", "o2", "o3", "o4", "v1"],
    "profile_id": ["a", "a", "b", "c", "a"],
    "metric": ["Placed Order"] * 4 + ["Viewed Product"],
    # o2 and o3 share a timestamp; o4 is out of order (older than o3 but inserted later)
    "timestamp": ["2025-06-01T10:00:00Z", "2025-06-02T10:00:00Z", "2025-06-02T10:00:00Z",
                  "2025-05-30T10:00:00Z", "2025-06-02T11:00:00Z"],
    "value": [10.0, 25.5, 7.0, 99.0, None],
})
PROFILES = pd.DataFrame({"profile_id": ["a", "b", "c"], "email": ["a@x.io", "b@x.io", "c@x.io"],
                         "first_name": ["Ann", "Bob", "Cid"]})


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(path), profiles=PROFILES, events=EVENTS).close()
    return path


def handler(folder: Path, name: str, body: str, header: str = 'METRIC = "Placed Order"\nSINCE = "2025-01-01"\n') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(header + body)
    return path


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def props(db, *cols):
    with Workspace(db, read_only=True) as ws:
        return ws.profiles.select("profile_id", *cols).order_by("profile_id").execute()


def test_each_event_once_across_reruns_and_properties_written(db, tmp_path):
    log = tmp_path / "calls.txt"
    code = tmp_path / "code"
    handler(code, "orders", f"""
def handle(event, profile):
    with open({str(log)!r}, "a") as fh:
        fh.write(event["event_id"] + "\\n")
    return {{"last_order_value": event["value"], "greeting": "hi " + profile["first_name"], "vip": event["value"] > 20}}
""")
    outbox = Outbox(tmp_path / "o.sqlite")
    (r,) = run_handlers(db, code, outbox)
    assert (r.events, r.done, r.errors) == (4, 4, 0)
    # Reference: one call per Placed Order event, in (timestamp, event_id) order, none for other metrics.
    expected = sorted(EVENTS[EVENTS.metric == "Placed Order"].itertuples(), key=lambda e: (e.timestamp, e.event_id))
    assert calls(log) == [e.event_id for e in expected]
    (r,) = run_handlers(db, code, outbox)
    assert r.events == 0 and len(calls(log)) == 4  # rerun: nothing called again
    df = props(db, "last_order_value", "greeting", "vip")
    # a's last processed order in that order is o2 (25.5): the properties of the latest call win.
    assert df.to_dict("records") == [
        {"profile_id": "a", "last_order_value": 25.5, "greeting": "hi Ann", "vip": True},
        {"profile_id": "b", "last_order_value": 7.0, "greeting": "hi Bob", "vip": False},
        {"profile_id": "c", "last_order_value": 99.0, "greeting": "hi Cid", "vip": True},
    ]
    # New events, including one arriving late with an old timestamp, are each handled once.
    with Workspace(db) as ws:
        ws.duckdb.execute("INSERT INTO events (event_id, profile_id, metric, timestamp, value) VALUES "
                          "('o5', 'b', 'Placed Order', TIMESTAMPTZ '2025-05-01 00:00:00+00', 1.0)")
    run_handlers(db, code, outbox)
    run_handlers(db, code, outbox)
    assert calls(log) == [e.event_id for e in expected] + ["o5"]
    # The properties are ordinary profile columns: segments can use them.
    from cdp_lib.segments import count_members

    with Workspace(db, read_only=True) as ws:
        assert count_members(ws, {"name": "V", "conditions": [{"property": "vip", "op": "==", "value": True}]}, library={}) == 2


def test_exceptions_are_recorded_and_retried_later_without_blocking_others(db, tmp_path):
    flag = tmp_path / "fixed"
    code = tmp_path / "code"
    handler(code, "flaky", f"""
import os
def handle(event, profile):
    if event["event_id"] == "o2" and not os.path.exists({str(flag)!r}):
        raise ValueError("bad order " + event["event_id"])
    return {{"seen": event["event_id"]}}
""")
    outbox = Outbox(tmp_path / "o.sqlite")
    (r,) = run_handlers(db, code, outbox)
    assert (r.done, r.errors) == (3, 1)
    with Workspace(db, read_only=True) as ws:
        runs = ws.table("activation_code_runs").execute().set_index("event_id")
    assert runs.loc["o2", "status"] == "error" and runs.loc["o2", "attempts"] == 1
    assert runs.loc["o2", "last_error"].startswith("ValueError: bad order o2 (line ")
    (r,) = run_handlers(db, code, outbox)  # still broken: retried, recorded again
    assert (r.events, r.errors) == (1, 1)
    flag.write_text("")
    (r,) = run_handlers(db, code, outbox)
    assert (r.events, r.done) == (1, 1)
    assert props(db, "seen").set_index("profile_id")["seen"].to_dict() == {"a": "o2", "b": "o3", "c": "o4"}
    (r,) = run_handlers(db, code, outbox)
    assert r.events == 0


def test_timeout_stops_the_call_and_gives_up_after_max_attempts(db, tmp_path):
    code = tmp_path / "code"
    handler(code, "slow", """
import time
def handle(event, profile):
    if event["event_id"] == "o3":
        time.sleep(30)
    return {"ok": True}
""", header='METRIC = "Placed Order"\nSINCE = "2025-01-01"\nTIMEOUT_SECONDS = 1\nMAX_ATTEMPTS = 2\n')
    outbox = Outbox(tmp_path / "o.sqlite")
    (r,) = run_handlers(db, code, outbox)
    assert (r.done, r.errors, r.gave_up) == (3, 1, 0)
    (r,) = run_handlers(db, code, outbox)
    assert (r.events, r.gave_up) == (1, 1)
    (r,) = run_handlers(db, code, outbox)
    assert r.events == 0  # given up: not called again
    with Workspace(db, read_only=True) as ws:
        runs = ws.table("activation_code_runs").execute().set_index("event_id")
    assert runs.loc["o3", "status"] == "gave_up" and runs.loc["o3", "last_error"] == "timed out after 1 s"
    assert props(db, "ok").set_index("profile_id")["ok"].to_dict() == {"a": True, "b": None, "c": True}


@pytest.mark.parametrize("returned, error", [
    ('[1, 2]', "handle returned list"),
    ('{"email": "x@y.z"}', "property 'email' is managed by ingest"),
    ('{"bad name": 1}', "is not a plain name"),
    ('{"first_name": 3}', "property 'first_name' is VARCHAR; handle returned 3"),
    ('{"x": float("nan")}', "is not a finite number"),
    ('{"x": {"nested": 1}}', "value of type dict"),
])
def test_bad_return_values_are_recorded_as_errors(db, tmp_path, returned, error):
    code = tmp_path / "code"
    handler(code, "bad", f"def handle(event, profile):\n    return {returned}\n")
    (r,) = run_handlers(db, code, Outbox(tmp_path / "o.sqlite"))
    assert r.errors == 4
    with Workspace(db, read_only=True) as ws:
        runs = ws.table("activation_code_runs").execute()
        assert "x" not in ws.profiles.columns
    assert all(error in e for e in runs["last_error"])
    assert props(db, "first_name")["first_name"].tolist() == ["Ann", "Bob", "Cid"]


@pytest.mark.parametrize("text, message", [
    ('def handle(event, profile):\n    pass\n', r"set METRIC"),
    ('METRIC = "Placed Order"\n', r"no 'def handle\(event, profile\)'"),
    ('METRIC = "Placed Order"\ndef handle(event):\n    pass\n', r"handle must take \(event, profile\)"),
    ('METRIC = "Placed Order"\nTIMEOUT_SECONDS = 0\ndef handle(e, p):\n    pass\n', r"TIMEOUT_SECONDS must be"),
    ('METRIC = "Placed Order"\nSINCE = "2025-02-30"\ndef handle(e, p):\n    pass\n', r"SINCE must be a date"),
    ('METRIC = "Placed Order"\ndef handle(e, p):\n  return (\n', r"line \d+: not valid Python"),
])
def test_bad_handler_files_are_refused_before_running(tmp_path, db, text, message, capsys):
    code = tmp_path / "code"
    code.mkdir()
    (code / "h.py").write_text(text)
    with pytest.raises(InputError, match=message):
        load_handler(code / "h.py")
    assert main(["--db", str(db), "activation", "run", "--triggers", str(tmp_path / "none"), "--code", str(code)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_unknown_metric_and_import_failure_are_one_line_errors(db, tmp_path, capsys):
    code = tmp_path / "code"
    handler(code, "typo", "def handle(e, p):\n    return None\n", header='METRIC = "Placed Ordr"\n')
    assert main(["--db", str(db), "activation", "run", "--triggers", str(tmp_path / "none"), "--code", str(code)]) == 2
    err = capsys.readouterr().err
    assert "typo.py: METRIC" in err and "Placed Order" in err
    (code / "typo.py").unlink()
    handler(code, "boom", "import no_such_module_xyz\ndef handle(e, p):\n    return None\n")
    assert main(["--db", str(db), "activation", "run", "--triggers", str(tmp_path / "none"), "--code", str(code)]) == 2
    assert "importing the handler failed: ModuleNotFoundError" in capsys.readouterr().err


def test_cli_run_reports_handlers(db, tmp_path, capsys):
    code = tmp_path / "code"
    handler(code, "orders", "def handle(event, profile):\n    return {'n_orders_seen': 1}\n")
    assert main(["--db", str(db), "activation", "run", "--triggers", str(tmp_path / "none"), "--code", str(code),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["handlers"] == [{"handler": "orders", "events": 4, "done": 4, "errors": 0, "gave_up": 0}]
