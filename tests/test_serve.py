"""The membership API: token auth, 401/404, JSON errors without stack traces, batch lookups,
the request log, and answers while an ingest holds the workspace."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import ibis
import numpy as np
import pandas as pd
import pytest

from cdp_lib.cli import main
from cdp_lib.segments.history import ensure_tables, rebuild_current, store_members
from cdp_lib.serve.tokens import TokenStore, hash_token
from cdp_lib.snapshots import publish
from cdp_lib.ingest import ingest_rows
from cdp_lib.workspace import Workspace

PROFILES = pd.DataFrame({"profile_id": ["a", "b", "c"], "external_id": ["X1", "X2", None],
                         "email": [" Ann@Example.com", "bob@example.com", None]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str | None = None, data: bytes | None = None):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def api(tmp_path):
    db = tmp_path / "cdp.duckdb"
    ws = Workspace(db)
    # Through ingest, so identities exist as in any real store (the slow test ingests events).
    assert ingest_rows(ws, "profiles", PROFILES, "profiles fixture").loaded == 3
    ensure_tables(ws)
    moment = pd.Timestamp("2025-06-01T23:59:59", tz="UTC")
    with ws.transaction():
        for seg, members in {"VIP": ["a", "b"], "At Risk": ["a"], "Empty": []}.items():
            store_members(ws, seg, ibis.memtable(pd.DataFrame({"profile_id": pd.Series(members, dtype="string")})),
                          moment, moment)
        rebuild_current(ws)
    ws.close()
    publish(db)
    token = TokenStore.for_workspace(db).create("website")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cdp_lib.cli", "--db", str(db), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if get(base + "/v1/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    yield base, token, db, proc
    proc.terminate()
    proc.wait(10)


def test_segments_by_profile_id_email_and_external_id(api):
    base, token, db, _ = api
    assert get(base + "/v1/profiles/a/segments", token) == (200, {"profile_id": "a", "segments": ["At Risk", "VIP"]})
    assert get(base + "/v1/profiles/ANN%40example.COM/segments", token) == (200, {"profile_id": "a", "segments": ["At Risk", "VIP"]})
    assert get(base + "/v1/profiles/X2/segments", token) == (200, {"profile_id": "b", "segments": ["VIP"]})
    assert get(base + "/v1/profiles/c/segments", token) == (200, {"profile_id": "c", "segments": []})


def test_auth_required_wrong_and_revoked_tokens_refused(api, capsys):
    base, token, db, _ = api
    status, body = get(base + "/v1/profiles/a/segments")
    assert status == 401 and "bearer token" in body["error"]
    assert get(base + "/v1/profiles/a/segments", token + "x")[0] == 401
    assert get(base + "/v1/profiles/a/segments", "Basic abc")[0] == 401
    # a token created while the server runs works at once; a revoked one stops working
    assert main(["--db", str(db), "token", "create", "--name", "app2"]) == 0
    t2 = capsys.readouterr().out.strip()
    assert t2.startswith("cdp_") and get(base + "/v1/profiles/a/segments", t2)[0] == 200
    assert main(["--db", str(db), "token", "revoke", "app2"]) == 0
    assert get(base + "/v1/profiles/a/segments", t2)[0] == 401
    # stored hashed only
    raw = (db.parent / "cdp.tokens.sqlite").read_bytes()
    assert token.encode() not in raw and t2.encode() not in raw and hash_token(token).encode() in raw


def test_unknown_profile_404_bad_requests_json_without_traces(api):
    base, token, _, _ = api
    assert get(base + "/v1/profiles/zzz/segments", token) == (404, {"error": "unknown profile"})
    status, body = get(base + "/v1/nothing", token)
    assert status == 404 and set(body) == {"error"}
    status, body = get(base + "/v1/profiles/segments", token, data=b"{not json")
    assert status == 400 and "not JSON" in body["error"] and "Traceback" not in json.dumps(body)
    status, body = get(base + "/v1/profiles/segments", token, data=json.dumps({"keys": ["a"] * 1001}).encode())
    assert status == 400 and "at most 1000" in body["error"]


def test_batch_lookup(api):
    base, token, _, _ = api
    status, body = get(base + "/v1/profiles/segments", token, data=json.dumps({"keys": ["b", "nobody", "X1"]}).encode())
    assert status == 200
    assert body == {"results": [
        {"key": "b", "profile_id": "b", "segments": ["VIP"]},
        {"key": "nobody", "error": "unknown profile"},
        {"key": "X1", "profile_id": "a", "segments": ["At Risk", "VIP"]},
    ]}


def test_request_log_has_one_json_line_per_request_without_keys(api):
    base, token, db, _ = api
    get(base + "/v1/profiles/bob%40example.com/segments", token)
    get(base + "/v1/profiles/a/segments")
    time.sleep(0.2)
    lines = [json.loads(x) for x in (db.parent / "cdp.api.log").read_text().splitlines()]
    mine = [x for x in lines if x["route"] == "/v1/profiles/{key}/segments"][-2:]
    assert [(x["status"], x["token"]) for x in mine] == [(200, "website"), (401, None)]
    assert "bob" not in (db.parent / "cdp.api.log").read_text()


@pytest.mark.slow
def test_keeps_serving_while_an_ingest_runs_and_picks_up_new_snapshots(api, tmp_path):
    from cdp_lib.ingest import ingest_file
    from cdp_lib.workspace import Workspace

    base, token, db, _ = api
    n = 200_000
    rng = np.random.default_rng(3)
    events = pd.DataFrame({"event_id": [f"e{i}" for i in range(n)], "profile_id": rng.choice(["a", "b", "c"], n),
                           "metric": "Viewed Product",
                           "timestamp": pd.Timestamp("2025-06-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86400, n), "s")})
    events.to_parquet(tmp_path / "events.parquet")
    done = threading.Event()
    errors = []

    def ingest():
        try:
            with Workspace(db) as ws:
                ingest_file(ws, "events", tmp_path / "events.parquet")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=ingest)
    t.start()
    answers = []
    while not done.is_set():
        answers.append(get(base + "/v1/profiles/a/segments", token))
    t.join()
    assert not errors
    assert len(answers) >= 5, "the ingest finished before the API was queried; make the file bigger"
    assert all(a == (200, {"profile_id": "a", "segments": ["At Risk", "VIP"]}) for a in answers)
    # After a new refresh is published, the next request answers from the new snapshot.
    with Workspace(db) as ws:
        with ws.transaction():
            store_members(ws, "VIP", ibis.memtable(pd.DataFrame({"profile_id": ["b"]})),
                          pd.Timestamp("2025-06-02T23:59:59", tz="UTC"), pd.Timestamp.now(tz="UTC"))
            rebuild_current(ws)
        publish(ws)
    # The new snapshot is loaded in the background; answers switch to it within moments.
    deadline = time.time() + 60
    while time.time() < deadline:
        answer = get(base + "/v1/profiles/a/segments", token)
        assert answer[0] == 200 and answer[1]["segments"] in (["At Risk", "VIP"], ["At Risk"])
        if answer[1]["segments"] == ["At Risk"]:
            break
        time.sleep(0.1)
    assert answer == (200, {"profile_id": "a", "segments": ["At Risk"]})


def test_token_create_rules(tmp_path, capsys):
    db = str(tmp_path / "cdp.duckdb")
    assert main(["--db", db, "token", "create", "--name", "web"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "token", "create", "--name", "web"]) == 2
    assert "a token named 'web' exists" in capsys.readouterr().err
    assert main(["--db", db, "token", "create", "--name", "../etc"]) == 2
    assert main(["--db", db, "token", "list"]) == 0
    out = capsys.readouterr().out
    assert "web" in out and "cdp_" not in out
