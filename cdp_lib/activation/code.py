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
import math
import multiprocessing as mp
import os
import re
import traceback
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from cdp_lib.activation.code_store import due_events, open_workspace, plain as _plain, profiles_of, write_outcomes
from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError

DEFAULT_FOLDER = "parameters/code"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 5
WRITE_EVERY = 200
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
            since = parse_date(since, "SINCE")
        except InputError:
            raise InputError(f"{path}: SINCE must be a date like 2025-01-31, got {since!r}") from None
    return HandlerSpec(path.stem, path, metrics, float(timeout), since, attempts)


def load_handlers(folder: str | os.PathLike = DEFAULT_FOLDER) -> list[HandlerSpec]:
    from cdp_lib.project import resolve_path

    folder = resolve_path(folder)  # relative folders are taken from the project folder
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
    ws = open_workspace(db, wait_seconds)
    try:
        due = due_events(ws, spec.name, spec.metrics, spec.max_attempts, since, limit)
        profiles = profiles_of(ws, sorted(set(due["profile_id"].dropna())))
    finally:
        ws.close()
    result = HandlerResult(spec.name, events=len(due))
    runner = _Runner(spec)
    pending: list[dict] = []

    def flush() -> None:
        if not pending:
            return
        w = open_workspace(db, wait_seconds)
        try:
            write_outcomes(w, spec.name, pending)
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
    ws = open_workspace(db, 60.0)
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
