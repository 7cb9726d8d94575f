"""Storage edge of code on events: DuckDB statements on `activation_code_runs` and `profiles`."""

from __future__ import annotations

import datetime
import json
import os
import time
from typing import Any, Iterable

import pandas as pd

from cdp_lib.errors import WorkspaceError

RUNS_TABLE = "activation_code_runs"
RUNS = {"handler": "VARCHAR", "event_id": "VARCHAR", "status": "VARCHAR", "attempts": "BIGINT",
        "last_error": "VARCHAR", "properties": "VARCHAR", "updated_at": "TIMESTAMPTZ"}


def open_workspace(db: str | os.PathLike, wait_seconds: float):
    """The workspace read-write, waiting up to `wait_seconds` for another writer to finish."""
    from cdp_lib.workspace import Workspace

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return Workspace(db)
        except WorkspaceError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def due_events(ws, handler: str, metric_names: Iterable[str], max_attempts: int, since: pd.Timestamp,
               limit: int | None) -> pd.DataFrame:
    """Events of the metrics from `since` with no final outcome for `handler`, oldest first;
    `_attempts` holds the attempts made so far (null for new events)."""
    import ibis

    from cdp_lib import metrics

    ws.duckdb.execute(f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} ("
                      + ", ".join(f"{c} {t}" for c, t in RUNS.items()) + ")")
    parts = [metrics.events_for(ws, m) for m in metric_names]
    ev = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    ev = ev.filter(ev.timestamp >= ibis.literal(since))
    runs = ws.table(RUNS_TABLE)
    runs = runs.filter(runs.handler == handler).select(_eid=runs.event_id, _status=runs.status, _attempts=runs.attempts)
    j = ev.left_join(runs, ev.event_id == runs._eid)
    j = j.filter(j._status.isnull() | ((j._status == "error") & (j._attempts < max_attempts)))
    j = j.order_by(["timestamp", "event_id"])
    if limit is not None:
        j = j.limit(limit)
    return j.execute()


def plain(value: Any) -> Any:
    """A JSON-friendly scalar: times as ISO 8601 text, missing values None."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    return value.item() if hasattr(value, "item") else value


def profiles_of(ws, ids: list[str]) -> dict[str, dict]:
    """Profile rows by id, as plain dicts (times as ISO 8601 text, missing values None)."""
    if not ids:
        return {}
    p = ws.profiles
    df = p.filter(p.profile_id.isin(ids)).execute()
    return {r["profile_id"]: {k: plain(v) for k, v in r.items()} for r in df.to_dict("records")}


def _sql_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE"
    return "VARCHAR"


def _fits(value: Any, sql_type: str) -> bool:
    if value is None:
        return True
    t = sql_type.upper()
    if t == "BOOLEAN":
        return isinstance(value, bool)
    if t in {"BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT"}:
        return isinstance(value, int) and not isinstance(value, bool)
    if t in {"DOUBLE", "FLOAT", "REAL"} or t.startswith("DECIMAL"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "VARCHAR":
        return isinstance(value, str)
    return False



def write_outcomes(ws, handler: str, outcomes: list[dict]) -> None:
    """Store outcomes and set returned properties, all in one transaction."""
    db = ws.duckdb
    types = {r[0]: r[1] for r in db.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'profiles'").fetchall()}
    # Values that do not fit the column's type turn the outcome into an error (nothing written).
    for o in outcomes:
        for k, v in o["properties"].items():
            have = types.get(k)
            if have is None and v is not None:
                types[k] = _sql_type(v)
                o.setdefault("_new", []).append(k)
            elif have is not None and not _fits(v, have):
                o.update(status="error", error=f"property {k!r} is {have}; handle returned {v!r}", properties={})
                break
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    with ws.transaction():
        added = set()
        for o in outcomes:
            for k in o.get("_new", []):
                if k not in added and o["status"] == "done":
                    db.execute(f'ALTER TABLE profiles ADD COLUMN IF NOT EXISTS "{k}" {types[k]}')
                    added.add(k)
        for o in outcomes:
            if o["status"] == "done":
                for k, v in o["properties"].items():
                    if k in added or k in types:
                        db.execute(f'UPDATE profiles SET "{k}" = ? WHERE profile_id = ?', [v, o["profile_id"]])
            db.execute(f"DELETE FROM {RUNS_TABLE} WHERE handler = ? AND event_id = ?", [handler, o["event_id"]])
            db.execute(f"INSERT INTO {RUNS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [handler, o["event_id"], o["status"], o["attempts"], o.get("error"),
                        json.dumps(o["properties"], sort_keys=True) if o["status"] == "done" else None, now])
