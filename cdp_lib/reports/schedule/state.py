"""Run history of the scheduler: one SQLite row per attempt or skip, beside the reports.

Never inside the DuckDB workspace, whose single-writer lock the jobs themselves need.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from pathlib import Path

from cdp_lib import local_db


class State:
    """Run history in SQLite (`<state_dir>/state.sqlite`): one row per attempt or skip."""

    def __init__(self, state_dir: str | os.PathLike):
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "state.sqlite"
        with self._connect() as con:
            con.execute(
                """CREATE TABLE IF NOT EXISTS runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    job TEXT NOT NULL, slot TEXT NOT NULL, attempt INTEGER NOT NULL,
                    final INTEGER NOT NULL, run_id TEXT, status TEXT NOT NULL,
                    started_at TEXT, finished_at TEXT, duration_seconds REAL,
                    error TEXT, report TEXT, scheduler TEXT)"""
            )

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return local_db.transaction(self.path)

    def last_slot(self, job: str) -> dt.datetime | None:
        with self._connect() as con:
            row = con.execute("SELECT max(slot) FROM runs WHERE job = ? AND final = 1", (job,)).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def record(self, **row) -> None:
        row.setdefault("scheduler", f"{os.uname().nodename}:{os.getpid()}")
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        values = [v.isoformat() if isinstance(v, dt.datetime) else v for v in row.values()]
        with self._connect() as con:
            con.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", values)

    def history(self, job: str | None = None, limit: int = 50) -> list[dict]:
        query = "SELECT * FROM runs"
        args: list = []
        if job:
            query += " WHERE job = ?"
            args.append(job)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(query, args)]

    def last_final(self, job: str) -> dict | None:
        rows = [r for r in self.history(job, limit=20) if r["final"]]
        return rows[0] if rows else None
