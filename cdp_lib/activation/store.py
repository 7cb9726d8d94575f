"""The durable outbox and activation bookkeeping: a SQLite file next to the workspace.

Layout for the workspace ``data/cdp.duckdb``: ``data/cdp.activation.sqlite`` holding

- ``deliveries``: one row per batch to send (webhook) or write (file), with its delivery id,
  destination, body, status (``pending`` | ``delivered`` | ``failed``), attempts and the time of
  the next attempt;
- ``attempts``: one row per attempt (outcome, HTTP status, error, duration) for ``cdp activation log``;
- ``fired``: one row per trigger and change (item key) ever enqueued, so a change fires once;
- ``cursors``: per trigger, where its next run starts looking.

Why not a table in the DuckDB workspace: DuckDB admits one writing process per file, and sending
may wait minutes on a receiver that is down; holding the workspace lock that long would block
ingest and scheduled jobs. SQLite in WAL mode lets the sender, the scheduler's notifier and
`cdp activation status` share the file. Enqueueing a run's batches and marking their changes as
fired is one SQLite transaction, so a crash leaves either both or neither.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from cdp_lib.workspace import DEFAULT_PATH

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    trigger TEXT NOT NULL,
    kind TEXT NOT NULL,
    destination TEXT NOT NULL,
    body TEXT NOT NULL,
    items INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    last_error TEXT,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS fired (
    trigger TEXT NOT NULL,
    item_key TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    PRIMARY KEY (trigger, item_key)
);
CREATE TABLE IF NOT EXISTS cursors (
    trigger TEXT PRIMARY KEY,
    value TEXT,
    armed_at TEXT NOT NULL
);
"""

STATUSES = ("pending", "delivered", "failed")


def outbox_path(db: str | os.PathLike | None = None) -> Path:
    """The activation state file of workspace `db` (default: $CDP_DB or data/cdp.duckdb)."""
    db_path = Path(db if db is not None else os.environ.get("CDP_DB", DEFAULT_PATH))
    return db_path.with_name(f"{db_path.stem}.activation.sqlite")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def new_delivery_id() -> str:
    return f"dlv_{uuid.uuid4().hex}"


class Outbox:
    """Access to one activation state file; every method opens a short transaction."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)  # executescript commits on its own
        finally:
            con.close()

    @classmethod
    def for_workspace(cls, db: str | os.PathLike | None = None) -> "Outbox":
        return cls(outbox_path(db))

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA synchronous=FULL")  # a committed enqueue survives power loss
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    # -- enqueueing ------------------------------------------------------------------------
    def enqueue(self, trigger: str, kind: str, destination: dict, batches: Iterable[tuple[list[str], dict]],
                max_attempts: int, run_id: str | None = None, cursor: str | None = None) -> list[str]:
        """Store batches `(item_keys, body)` and mark their keys fired, in one transaction.

        Keys already fired for `trigger` are dropped from their batch (a batch left empty is not
        stored), so enqueueing the same change twice sends it once. `cursor`, when given, is
        saved as the trigger's new cursor in the same transaction. Returns the new delivery ids.
        """
        ids: list[str] = []
        created = now_iso()
        with self.connect() as con:
            for keys, body in batches:
                fresh = [k for k in keys if con.execute(
                    "SELECT 1 FROM fired WHERE trigger = ? AND item_key = ?", (trigger, k)).fetchone() is None]
                if keys and not fresh:
                    continue
                if len(fresh) < len(keys) and kind != "file":  # file rows are not per change
                    keep = set(fresh)
                    body = {**body, "items": [it for k, it in zip(keys, body["items"]) if k in keep]}
                delivery_id = body.get("delivery_id") or new_delivery_id()
                body = {**body, "delivery_id": delivery_id}
                con.execute(
                    "INSERT INTO deliveries (delivery_id, trigger, kind, destination, body, items, status, "
                    "attempts, max_attempts, next_attempt_at, created_at, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
                    (delivery_id, trigger, kind, json.dumps(destination, sort_keys=True),
                     json.dumps(body, default=str, separators=(",", ":")), len(body.get("items", [])),
                     max_attempts, time.time(), created, run_id),
                )
                con.executemany("INSERT INTO fired VALUES (?, ?, ?, ?)",
                                [(trigger, k, delivery_id, created) for k in fresh])
                ids.append(delivery_id)
            if cursor is not None:
                self._set_cursor(con, trigger, cursor)
        return ids

    def fired_keys(self, trigger: str, keys: Iterable[str]) -> set[str]:
        """Which of `keys` were already fired for `trigger`."""
        keys = list(keys)
        if not keys:
            return set()
        with self.connect() as con:
            con.execute("CREATE TEMP TABLE IF NOT EXISTS _probe (k TEXT PRIMARY KEY)")
            con.execute("DELETE FROM _probe")
            con.executemany("INSERT OR IGNORE INTO _probe VALUES (?)", [(k,) for k in keys])
            rows = con.execute("SELECT p.k FROM _probe p JOIN fired f ON f.item_key = p.k AND f.trigger = ?",
                               (trigger,)).fetchall()
            con.execute("DELETE FROM _probe")
        return {r[0] for r in rows}

    # -- cursors ----------------------------------------------------------------------------
    @staticmethod
    def _set_cursor(con: sqlite3.Connection, trigger: str, value: str | None) -> None:
        con.execute(
            "INSERT INTO cursors (trigger, value, armed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (trigger) DO UPDATE SET value = excluded.value", (trigger, value, now_iso()))

    def cursor(self, trigger: str) -> tuple[bool, str | None]:
        """`(armed, value)`: whether the trigger ran before, and where it stopped."""
        with self.connect() as con:
            row = con.execute("SELECT value FROM cursors WHERE trigger = ?", (trigger,)).fetchone()
        return (row is not None, row[0] if row else None)

    def set_cursor(self, trigger: str, value: str | None) -> None:
        with self.connect() as con:
            self._set_cursor(con, trigger, value)

    # -- sending ------------------------------------------------------------------------------
    def due(self, now: float | None = None, limit: int = 100) -> list[dict]:
        """Pending deliveries whose next attempt is due, oldest first."""
        now = time.time() if now is None else now
        with self.connect() as con:
            rows = con.execute(
                "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, created_at LIMIT ?", (now, limit)).fetchall()
        return [dict(r) for r in rows]

    def next_due_at(self) -> float | None:
        with self.connect() as con:
            row = con.execute("SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'").fetchone()
        return row[0]

    def record_attempt(self, delivery_id: str, attempt: int, outcome: str, status: str,
                       next_attempt_at: float | None = None, http_status: int | None = None,
                       error: str | None = None, seconds: float | None = None) -> None:
        """Store one attempt's outcome and the delivery's new status, atomically."""
        at = now_iso()
        with self.connect() as con:
            con.execute("INSERT INTO attempts (delivery_id, attempt, at, outcome, http_status, error, seconds) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", (delivery_id, attempt, at, outcome, http_status, error, seconds))
            con.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = coalesce(?, next_attempt_at), "
                "last_error = ?, delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END "
                "WHERE delivery_id = ?",
                (status, attempt, next_attempt_at, error, status, at, delivery_id))

    def retry(self, delivery_ids: Iterable[str] | None = None, extra_attempts: int = 5) -> int:
        """Make failed (and pending) deliveries due now, with `extra_attempts` more tries."""
        with self.connect() as con:
            if delivery_ids is None:
                where, args = "status IN ('failed', 'pending')", []
            else:
                ids = list(delivery_ids)
                where, args = f"delivery_id IN ({', '.join('?' for _ in ids)})", ids
                if not ids:
                    return 0
            cur = con.execute(
                f"UPDATE deliveries SET status = 'pending', next_attempt_at = ?, "
                f"max_attempts = attempts + ? WHERE {where} AND status != 'delivered'",
                [time.time(), extra_attempts, *args])
            return cur.rowcount

    # -- reading ---------------------------------------------------------------------------------
    def status(self) -> list[dict]:
        """Per trigger: deliveries and items by status."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT trigger, status, count(*) AS deliveries, sum(items) AS items, max(created_at) AS newest "
                "FROM deliveries GROUP BY trigger, status ORDER BY trigger, status").fetchall()
        return [dict(r) for r in rows]

    def deliveries(self, status: str | None = None, trigger: str | None = None, limit: int = 50) -> list[dict]:
        query, args = "SELECT * FROM deliveries WHERE 1 = 1", []
        if status:
            query += " AND status = ?"
            args.append(status)
        if trigger:
            query += " AND trigger = ?"
            args.append(trigger)
        query += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        with self.connect() as con:
            return [dict(r) for r in con.execute(query, args)]

    def attempts(self, delivery_id: str | None = None, limit: int = 50) -> list[dict]:
        query = ("SELECT a.*, d.trigger, d.kind FROM attempts a JOIN deliveries d USING (delivery_id)")
        args: list = []
        if delivery_id:
            query += " WHERE a.delivery_id = ?"
            args.append(delivery_id)
        query += " ORDER BY a.id DESC LIMIT ?"
        args.append(limit)
        with self.connect() as con:
            return [dict(r) for r in con.execute(query, args)]


@contextlib.contextmanager
def file_lock(lock_path: str | os.PathLike, wait_seconds: float = 0.0) -> Iterator[bool]:
    """An exclusive flock (released by the kernel if the holder is killed); yields whether held."""
    with open(lock_path, "a+") as fh:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sender_lock(outbox: Outbox, wait_seconds: float = 0.0):
    """One sender per outbox at a time."""
    return file_lock(outbox.path.with_name(outbox.path.name + ".send.lock"), wait_seconds)


def run_lock(outbox: Outbox, wait_seconds: float = 0.0):
    """One computing run (triggers and code on events) per workspace at a time."""
    return file_lock(outbox.path.with_name(outbox.path.name + ".run.lock"), wait_seconds)
