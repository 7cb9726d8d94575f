"""Events per metric as `cdp info` reports them, kept by ingest so `info` reads a few rows.

Counting distinct profiles per metric scans every event (about 1 s of CPU per 5M events), which
is most of what `cdp info` would cost. Ingest is the only writer of `events` (new rows, and
identity merges that move events to a surviving profile), so at the end of each ingest that
changed them it stores the per-metric counts with a stamp: the row counts of `events` and
`merges` they were computed from. A reader uses the stored rows only while the stamp still
matches the tables (two `count(*)`, a few milliseconds); otherwise it computes them live. A
workspace written some other way (tests, a hand-built store) is therefore never misreported.

Storage edge: DuckDB SQL only.
"""

from __future__ import annotations

import datetime as dt

from cdp_lib import schema

METRICS_TABLE = "events_summary"
STAMP_TABLE = "events_summary_stamp"

_IN_RANGE = (f"timestamp >= TIMESTAMPTZ '{schema.EARLIEST_TIME} 00:00:00+00' "
             f"AND timestamp < TIMESTAMPTZ '{schema.LATEST_TIME} 00:00:00+00'")


def compute(db) -> tuple:
    """(first_event, last_event, out_of_range, [(metric, events, profiles), ...]) from the events."""
    first, last, hidden = db.execute(
        f"SELECT min(timestamp) FILTER ({_IN_RANGE}), max(timestamp) FILTER ({_IN_RANGE}), "
        f"count(*) FILTER (timestamp IS NOT NULL AND NOT ({_IN_RANGE})) FROM events").fetchone()
    rows = db.execute(
        "SELECT metric, count(*) AS events, count(DISTINCT profile_id) AS profiles "
        f"FROM events WHERE timestamp IS NULL OR ({_IN_RANGE}) "
        "GROUP BY metric ORDER BY events DESC, metric").fetchall()
    return first, last, int(hidden or 0), rows


def stamp(db, has_merges: bool = True) -> tuple[int, int]:
    """Row counts of `events` and `merges` (0 without a merges table): what derived tables were
    computed from (also the KPI roll-ups' stamp, `cdp_lib.kpi.rollups`)."""
    events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    merges = db.execute("SELECT count(*) FROM merges").fetchone()[0] if has_merges else 0
    return int(events), int(merges)


def store(db) -> None:
    """Recompute and store the summary (inside the caller's transaction)."""
    first, last, hidden, rows = compute(db)
    events, merges = stamp(db)  # ingest runs on an initialised workspace: `merges` exists
    db.execute(f"CREATE OR REPLACE TABLE {METRICS_TABLE} (metric VARCHAR, events BIGINT, profiles BIGINT)")
    if rows:
        db.executemany(f"INSERT INTO {METRICS_TABLE} VALUES (?, ?, ?)", [list(r) for r in rows])
    db.execute(
        f"CREATE OR REPLACE TABLE {STAMP_TABLE} (events_rows BIGINT, merges_rows BIGINT, "
        "first_event TIMESTAMPTZ, last_event TIMESTAMPTZ, out_of_range BIGINT, computed_at TIMESTAMPTZ)")
    db.execute(f"INSERT INTO {STAMP_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
               [events, merges, first, last, hidden, dt.datetime.now(dt.timezone.utc)])


def read(db, tables: set[str]) -> tuple:
    """The stored summary when it still describes the tables, else the live one (as `compute`)."""
    if METRICS_TABLE in tables and STAMP_TABLE in tables:
        stored = db.execute(f"SELECT events_rows, merges_rows, first_event, last_event, out_of_range "
                            f"FROM {STAMP_TABLE}").fetchall()
        if len(stored) == 1 and tuple(stored[0][:2]) == stamp(db, "merges" in tables):
            rows = db.execute(f"SELECT metric, events, profiles FROM {METRICS_TABLE} "
                              "ORDER BY events DESC, metric").fetchall()
            return stored[0][2], stored[0][3], int(stored[0][4] or 0), rows
    return compute(db)
