"""Code on events: a user function per metric, run once for each new event of that metric.

A handler is a Python file in ``parameters/code/``::

    METRIC = "Placed Order"        # required: an event name or custom metric (or a list of them)
    TIMEOUT_SECONDS = 10           # optional, per call (default 10)
    SINCE = "2025-01-01"           # optional: events from this date (default: the day of the first run)
    MAX_ATTEMPTS = 5               # optional: calls of one event before it is given up (default 5)

    def handle(event, profile):
        return {"last_order_value": event["value"]}   # properties to set on the profile, or None

The settings are read from the file without running it (literal values only). Calls run in a
separate worker process, so a call that exceeds its timeout is stopped (the worker is killed and
a new one started) and a crash cannot take the runner down. Per event the outcome is stored in
the workspace table ``activation_code_runs`` (handler, event_id, status done | error | gave_up,
attempts, last_error, properties, updated_at) in the same transaction that writes the returned
properties onto the profile, so an event whose outcome is stored is never handed to the function
again; an event that raised or timed out is retried on the next run until ``MAX_ATTEMPTS``.
If the runner itself is killed during a call, that call happens again on the next run: code with
outside effects should be idempotent (the event id is a good key).

The workspace is opened only to read the due events and to write outcomes (every
``WRITE_EVERY`` events), never while a function runs, so ingest and other jobs are not held up.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import re
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from cdp_lib.errors import InputError, WorkspaceError

DEFAULT_FOLDER = "parameters/code"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 5
WRITE_EVERY = 200
RUNS_TABLE = "activation_code_runs"
RUNS = {"handler": "VARCHAR", "event_id": "VARCHAR", "status": "VARCHAR", "attempts": "BIGINT",
        "last_error": "VARCHAR", "properties": "VARCHAR", "updated_at": "TIMESTAMPTZ"}
# Identity and bookkeeping columns belong to ingest and identity resolution.
PROTECTED = {"profile_id", "external_id", "email", "phone", "created_at", "updated_at"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclasses.dataclass(frozen=True)
class HandlerSpec:
    """A handler file's settings, read without running it."""

    name: str  # file stem
    path: Path
    metrics: tuple[str, ...]
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    since: dt.date | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


def load_handler(path: str | os.PathLike) -> HandlerSpec:
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid Python ({exc.msg})") from None
    consts: dict[str, Any] = {}
    has_handle = False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "handle":
            has_handle = True
            if len(node.args.args) != 2:
                raise InputError(f"{path}, line {node.lineno}: handle must take (event, profile)")
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in {"METRIC", "TIMEOUT_SECONDS", "SINCE", "MAX_ATTEMPTS"}:
                try:
                    consts[name] = ast.literal_eval(node.value)
                except ValueError:
                    raise InputError(f"{path}, line {node.lineno}: {name} must be a literal value") from None
    if not has_handle:
        raise InputError(f"{path}: no 'def handle(event, profile)' function")
    metric = consts.get("METRIC")
    metrics = (metric,) if isinstance(metric, str) else tuple(metric) if isinstance(metric, (list, tuple)) else ()
    if not metrics or not all(isinstance(m, str) and m.strip() for m in metrics):
        raise InputError(f"{path}: set METRIC = \"<event name>\" (or a list of names) at the top of the file")
    timeout = consts.get("TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
        raise InputError(f"{path}: TIMEOUT_SECONDS must be a number of seconds in (0, 3600], got {timeout!r}")
    attempts = consts.get("MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise InputError(f"{path}: MAX_ATTEMPTS must be a whole number >= 1, got {attempts!r}")
    since = consts.get("SINCE")
    if since is not None:
        try:
            since = dt.date.fromisoformat(str(since))
        except ValueError:
            raise InputError(f"{path}: SINCE must be a date like 2025-01-31, got {since!r}") from None
    return HandlerSpec(path.stem, path, metrics, float(timeout), since, attempts)


def load_handlers(folder: str | os.PathLike = DEFAULT_FOLDER) -> list[HandlerSpec]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [load_handler(p) for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")]


# -- the worker process ----------------------------------------------------------------------------
def _worker(path: str, conn) -> None:  # pragma: no cover - runs in the child process
    import importlib.util

    try:
        spec = importlib.util.spec_from_file_location(f"cdp_handler_{Path(path).stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never shown as a traceback
        conn.send(("load_error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        event, profile = msg
        try:
            result = module.handle(event, profile)
            conn.send(("ok", result))
        except BaseException as exc:  # noqa: BLE001
            frame = traceback.extract_tb(exc.__traceback__)[-1:]
            where = f" (line {frame[0].lineno})" if frame else ""
            conn.send(("error", f"{type(exc).__name__}: {exc}{where}"))


class _Runner:
    """One worker process for one handler; restarted after a timeout or a crash."""

    def __init__(self, spec: HandlerSpec):
        self.spec = spec
        self.ctx = mp.get_context("spawn")
        self.proc = None
        self.conn = None
        self.load_error: str | None = None

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(str(self.spec.path), child), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        if not parent.poll(max(30.0, self.spec.timeout_seconds)):
            self.stop()
            raise InputError(f"{self.spec.path}: importing the handler took longer than 30 s")
        kind, detail = parent.recv()
        if kind == "load_error":
            self.stop()
            raise InputError(f"{self.spec.path}: importing the handler failed: {detail}")

    def call(self, event: dict, profile: dict) -> tuple[str, Any]:
        if self.proc is None or not self.proc.is_alive():
            self._start()
        try:
            self.conn.send((event, profile))
            if not self.conn.poll(self.spec.timeout_seconds):
                self.stop()
                return "error", f"timed out after {self.spec.timeout_seconds:g} s"
            return self.conn.recv()
        except (EOFError, BrokenPipeError, OSError):
            code = self.proc.exitcode if self.proc is not None else None
            self.stop()
            return "error", f"the handler's process died (exit code {code})"
        except Exception as exc:  # unpicklable result
            self.stop()
            return "error", f"the handler's result could not be read: {exc}"

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(5)
        self.proc = self.conn = None

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
                self.proc.join(2)
            except OSError:
                pass
        self.stop()


# -- validation of returned properties ------------------------------------------------------------
def check_properties(result: Any) -> dict:
    """A handler's return value as `{property: value}`; raises ValueError with the reason."""
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise ValueError(f"handle returned {type(result).__name__}; expected a dict of properties or None")
    out = {}
    for k, v in result.items():
        if not isinstance(k, str) or not _NAME.match(k):
            raise ValueError(f"property name {k!r} is not a plain name (letters, digits, _)")
        if k in PROTECTED:
            raise ValueError(f"property {k!r} is managed by ingest and identity resolution; use another name")
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise ValueError(f"property {k!r}: value of type {type(v).__name__}; use text, a number, true/false or None")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"property {k!r}: value {v!r} is not a finite number")
        out[k] = v
    return out


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


# -- reading and writing the workspace (storage edge: DuckDB statements) ---------------------------
def _open(db: str | os.PathLike, wait_seconds: float):
    from cdp_lib.workspace import Workspace

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return Workspace(db)
        except WorkspaceError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _due_events(ws, spec: HandlerSpec, since: pd.Timestamp, limit: int | None) -> pd.DataFrame:
    import ibis

    from cdp_lib import metrics

    ws.duckdb.execute(f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} ("
                      + ", ".join(f"{c} {t}" for c, t in RUNS.items()) + ")")
    parts = [metrics.events_for(ws, m) for m in spec.metrics]
    ev = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    ev = ev.filter(ev.timestamp >= ibis.literal(since))
    runs = ws.table(RUNS_TABLE)
    runs = runs.filter(runs.handler == spec.name).select(_eid=runs.event_id, _status=runs.status, _attempts=runs.attempts)
    j = ev.left_join(runs, ev.event_id == runs._eid)
    j = j.filter(j._status.isnull() | ((j._status == "error") & (j._attempts < spec.max_attempts)))
    j = j.order_by(["timestamp", "event_id"])
    if limit is not None:
        j = j.limit(limit)
    return j.execute()


def _profiles(ws, ids: list[str]) -> dict[str, dict]:
    if not ids:
        return {}
    p = ws.profiles
    df = p.filter(p.profile_id.isin(ids)).execute()
    return {r["profile_id"]: {k: _plain(v) for k, v in r.items()} for r in df.to_dict("records")}


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    return value.item() if hasattr(value, "item") else value


def _write(ws, spec: HandlerSpec, outcomes: list[dict]) -> None:
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
            db.execute(f"DELETE FROM {RUNS_TABLE} WHERE handler = ? AND event_id = ?", [spec.name, o["event_id"]])
            db.execute(f"INSERT INTO {RUNS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [spec.name, o["event_id"], o["status"], o["attempts"], o.get("error"),
                        json.dumps(o["properties"], sort_keys=True) if o["status"] == "done" else None, now])


@dataclasses.dataclass
class HandlerResult:
    handler: str
    events: int = 0
    done: int = 0
    errors: int = 0
    gave_up: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def run_handler(db: str | os.PathLike, spec: HandlerSpec, since: pd.Timestamp, limit: int | None = None,
                wait_seconds: float = 60.0, progress: Callable[[dict], None] | None = None) -> HandlerResult:
    """Run one handler over its due events; see the module docstring for the guarantees."""
    ws = _open(db, wait_seconds)
    try:
        due = _due_events(ws, spec, since, limit)
        profiles = _profiles(ws, sorted(set(due["profile_id"].dropna())))
    finally:
        ws.close()
    result = HandlerResult(spec.name, events=len(due))
    runner = _Runner(spec)
    pending: list[dict] = []

    def flush() -> None:
        if not pending:
            return
        w = _open(db, wait_seconds)
        try:
            _write(w, spec, pending)
        finally:
            w.close()
        for o in pending:
            result.done += o["status"] == "done"
            result.errors += o["status"] == "error"
            result.gave_up += o["status"] == "gave_up"
        pending.clear()

    try:
        for rec in due.to_dict("records"):
            attempts = int(rec["_attempts"]) + 1 if not pd.isna(rec["_attempts"]) else 1
            event = {k: _plain(v) for k, v in rec.items() if not k.startswith("_")}
            profile = profiles.get(rec["profile_id"], {"profile_id": rec["profile_id"]})
            kind, value = runner.call(event, profile)
            outcome = {"event_id": rec["event_id"], "profile_id": rec["profile_id"], "attempts": attempts,
                       "properties": {}, "status": "done", "error": None}
            if kind == "ok":
                try:
                    outcome["properties"] = check_properties(value)
                except ValueError as exc:
                    outcome.update(status="error", error=str(exc))
            else:
                outcome.update(status="error", error=str(value))
            if outcome["status"] == "error" and attempts >= spec.max_attempts:
                outcome["status"] = "gave_up"
            pending.append(outcome)
            if progress is not None:
                progress(outcome)
            if len(pending) >= WRITE_EVERY:
                flush()
        flush()
    finally:
        runner.close()
    return result


def run_handlers(db: str | os.PathLike, folder: str | os.PathLike = DEFAULT_FOLDER, outbox=None,
                 limit: int | None = None) -> list[HandlerResult]:
    """Run every handler in `folder` over its due events (handlers are validated first)."""
    from cdp_lib.activation.store import Outbox

    specs = load_handlers(folder)
    if not specs:
        return []
    outbox = outbox or Outbox.for_workspace(db)
    ws = _open(db, 60.0)
    try:
        from cdp_lib import metrics

        for spec in specs:
            for m in spec.metrics:
                try:
                    metrics.events_for(ws, m)
                except InputError as exc:
                    raise InputError(f"{spec.path}: METRIC: {exc}") from None
    finally:
        ws.close()
    results = []
    for spec in specs:
        key = f"code:{spec.name}"
        armed, value = outbox.cursor(key)
        if spec.since is not None:
            since = pd.Timestamp(spec.since, tz="UTC")
        elif armed and value:
            since = pd.Timestamp(value)
        else:
            since = pd.Timestamp.now(tz="UTC").normalize()
        if not armed or value != since.isoformat():
            outbox.set_cursor(key, since.isoformat())
        results.append(run_handler(db, spec, since, limit))
    return results
