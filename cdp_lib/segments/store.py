"""The segments' storage edge: every DuckDB statement that writes or point-reads segment history.

Tables (contract in docs/architecture.md and docs/segments.md):

- `segment_membership (segment, profile_id, joined_at, left_at, backfilled)`: membership
  spells; `backfilled` is true for closed spells a backfill inserted (they lie wholly in the
  past, so activation never fires on them); spells still open, and recorded spells a backfill
  extends back, keep false, so their later real `left` still fires.
- `segment_refreshes (segment, refreshed_at, as_of, members, entered, left, backfilled)`: one
  row per segment and evaluated moment; `backfilled` is true for moments reconstructed by
  `cdp segment refresh --backfill` rather than recorded by a refresh on the day.
- `segment_current`, `segment_current_emails`: open spells sorted for point lookups (the
  lookups themselves are in `cdp_lib.membership`, which loads DuckDB only).

Everything here runs with bound parameters; table names are fixed strings of this module.
Callers hold `ws.transaction()` around the writes so a failure leaves nothing behind.
"""

from __future__ import annotations

import ibis.expr.types as ir
import pandas as pd

from cdp_lib import schema
from cdp_lib.errors import InputError
from cdp_lib.workspace import Workspace

MEMBERSHIP = {"segment": "VARCHAR", "profile_id": "VARCHAR", "joined_at": "TIMESTAMPTZ", "left_at": "TIMESTAMPTZ",
              "backfilled": "BOOLEAN"}
REFRESHES = {
    "segment": "VARCHAR", "refreshed_at": "TIMESTAMPTZ", "as_of": "TIMESTAMPTZ",
    "members": "BIGINT", "entered": "BIGINT", "left": "BIGINT", "backfilled": "BOOLEAN",
}
CURRENT = {"segment": "VARCHAR", "profile_id": "VARCHAR", "joined_at": "TIMESTAMPTZ"}
_REFRESH_COLUMNS = ", ".join(f'"{c}"' for c in REFRESHES)
NEW_MEMBERS = "_cdp_segment_new"  # temp: one segment's new members while `store_members` applies them
BACKFILL_TABLE = "_cdp_backfill"  # temp: (moment, profile_id) of the reconstructed days
BACKFILL_DAYS = "_cdp_backfill_days"  # temp: (moment) of every reconstructed day, empty ones too


def ensure_tables(ws: Workspace) -> None:
    """Create the history tables; add `backfilled` to a workspace made before it existed."""
    for name, columns in (("segment_membership", MEMBERSHIP), ("segment_refreshes", REFRESHES),
                          ("segment_current", CURRENT)):
        ws.duckdb.execute(schema.create_table_sql(name, columns))
    for table in ("segment_membership", "segment_refreshes"):
        ws.duckdb.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS backfilled BOOLEAN DEFAULT false")


def stage(ws: Workspace, name: str, members: ir.Table) -> ir.Table:
    """Evaluate `members` once into the temp table `name` and return that table."""
    ws.con.create_table(name, members, temp=True, overwrite=True)
    return ws.con.table(name)


def drop_temp(ws: Workspace, *names: str) -> None:
    """Drop this session's temp tables `names` (those that exist)."""
    for name in names:
        ws.duckdb.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def store_members(ws: Workspace, segment: str, members: ir.Table, moment: pd.Timestamp,
                  refreshed_at: pd.Timestamp, tmp_name: str = NEW_MEMBERS) -> dict:
    """Apply one segment's new membership to the history; return its sizes and changes.

    Must run inside `ws.transaction()` together with `rebuild_current`.
    """
    db = ws.duckdb
    ws.con.create_table(tmp_name, members.select("profile_id").distinct(), temp=True, overwrite=True)
    last = db.execute("SELECT max(as_of) FROM segment_refreshes WHERE segment = ?", [segment]).fetchone()[0]
    if last is not None and pd.Timestamp(last) > moment:
        raise InputError(
            f"segment {segment!r} was last refreshed as of {pd.Timestamp(last):%Y-%m-%d %H:%M}; history only moves "
            f"forward, so a refresh as of {moment:%Y-%m-%d %H:%M} is refused (use a later as-of date, or "
            "--backfill DAYS to reconstruct the days before the history starts)"
        )
    left = db.execute(
        f'UPDATE segment_membership SET left_at = ? WHERE segment = ? AND left_at IS NULL '
        f'AND profile_id NOT IN (SELECT profile_id FROM "{tmp_name}")',
        [moment, segment],
    ).fetchone()[0]
    entered = db.execute(
        f'INSERT INTO segment_membership (segment, profile_id, joined_at, left_at, backfilled) '
        f'SELECT ?, n.profile_id, ?, NULL, false FROM "{tmp_name}" n '
        "WHERE n.profile_id NOT IN (SELECT profile_id FROM segment_membership WHERE segment = ? AND left_at IS NULL)",
        [segment, moment, segment],
    ).fetchone()[0]
    size = db.execute(f'SELECT count(*) FROM "{tmp_name}"').fetchone()[0]
    row = {"segment": segment, "refreshed_at": refreshed_at, "as_of": moment,
           "members": int(size), "entered": int(entered), "left": int(left), "backfilled": False}
    db.execute(f"INSERT INTO segment_refreshes ({_REFRESH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", list(row.values()))
    return row


def rebuild_current(ws: Workspace) -> None:
    """Rewrite `segment_current` (open spells sorted by profile id) from `segment_membership`."""
    ws.duckdb.execute(
        "CREATE OR REPLACE TABLE segment_current AS SELECT segment, profile_id, joined_at "
        "FROM segment_membership WHERE left_at IS NULL ORDER BY profile_id, segment"
    )
    # Members' normalised emails, sorted, so a lookup by email reads one row group too.
    ws.duckdb.execute(
        "CREATE OR REPLACE TABLE segment_current_emails AS SELECT DISTINCT lower(trim(p.email)) AS email_key, "
        "p.profile_id FROM profiles p SEMI JOIN segment_current c ON c.profile_id = p.profile_id "
        "WHERE p.email IS NOT NULL ORDER BY email_key"
    )


# -- backfill ----------------------------------------------------------------------------------
def first_moment(ws: Workspace, segment: str) -> pd.Timestamp | None:
    """The earliest moment of a segment's history (None when it has none)."""
    first = ws.duckdb.execute("SELECT min(as_of) FROM segment_refreshes WHERE segment = ?", [segment]).fetchone()[0]
    return None if first is None else pd.Timestamp(first)


def start_backfill(ws: Workspace) -> None:
    """An empty temp table for the reconstructed days' members."""
    ws.duckdb.execute(f'CREATE OR REPLACE TEMP TABLE "{BACKFILL_TABLE}" (moment TIMESTAMPTZ, profile_id VARCHAR)')
    ws.duckdb.execute(f'CREATE OR REPLACE TEMP TABLE "{BACKFILL_DAYS}" (moment TIMESTAMPTZ)')


def add_backfill_day(ws: Workspace, members: ir.Table, moment: pd.Timestamp) -> None:
    """Append one reconstructed day's members (evaluated as of `moment`)."""
    tmp = "_cdp_backfill_day"
    ws.con.create_table(tmp, members.select("profile_id").distinct(), temp=True, overwrite=True)
    ws.duckdb.execute(f'INSERT INTO "{BACKFILL_TABLE}" SELECT ?, profile_id FROM "{tmp}"', [moment])
    ws.duckdb.execute(f'INSERT INTO "{BACKFILL_DAYS}" VALUES (?)', [moment])
    drop_temp(ws, tmp)


def apply_backfill(ws: Workspace, segment: str, refreshed_at: pd.Timestamp) -> list[dict]:
    """Write the reconstructed days (all earlier than the segment's history) as history.

    The days' memberships and the membership at the first recorded moment F (from its spells)
    form one sequence of snapshots. Each run of consecutive snapshots a person is in becomes a
    spell: a run reaching F extends the person's spell open at F back to the run's first day;
    any other run is a closed spell that ends at the next snapshot. One `segment_refreshes` row
    per day is added with `backfilled` true, and F's first row gets its entered/left counted
    against the last reconstructed day instead of against nothing. Returns the added rows.
    """
    db = ws.duckdb
    first = first_moment(ws, segment)
    # snapshots: the new days, then F (members at F: spells open at F)
    db.execute(
        "CREATE OR REPLACE TEMP TABLE _cdp_snap AS "
        f'SELECT moment, profile_id FROM "{BACKFILL_TABLE}" UNION ALL '
        "SELECT ?::TIMESTAMPTZ, profile_id FROM segment_membership WHERE segment = ? AND joined_at <= ? "
        "AND (left_at IS NULL OR left_at > ?)",
        [first, segment, first, first],
    )
    with_first = "" if first is None else " UNION SELECT ?::TIMESTAMPTZ"
    db.execute(
        "CREATE OR REPLACE TEMP TABLE _cdp_moments AS SELECT moment, row_number() OVER (ORDER BY moment) AS i, "
        "lead(moment) OVER (ORDER BY moment) AS next_moment FROM "
        f'(SELECT DISTINCT moment FROM "{BACKFILL_DAYS}"{with_first})',
        [] if first is None else [first],
    )
    # islands: consecutive snapshot indexes of the same person
    db.execute(
        "CREATE OR REPLACE TEMP TABLE _cdp_runs AS "
        "WITH s AS (SELECT s.profile_id, m.i FROM _cdp_snap s JOIN _cdp_moments m USING (moment)), "
        "g AS (SELECT profile_id, i, i - row_number() OVER (PARTITION BY profile_id ORDER BY i) AS island FROM s) "
        "SELECT profile_id, min(i) AS first_i, max(i) AS last_i FROM g GROUP BY profile_id, island"
    )
    last_i = db.execute("SELECT max(i) FROM _cdp_moments").fetchone()[0]
    if first is not None:  # runs reaching F: the spell open at F starts earlier
        db.execute(
            "UPDATE segment_membership SET joined_at = m.moment FROM _cdp_runs r JOIN _cdp_moments m ON m.i = r.first_i "
            "WHERE segment_membership.segment = ? AND segment_membership.profile_id = r.profile_id "
            "AND segment_membership.joined_at = ? AND r.last_i = ? AND r.first_i < ? "
            "AND (segment_membership.left_at IS NULL OR segment_membership.left_at > ?)",
            [segment, first, last_i, last_i, first],
        )
        reaches_f = "r.last_i < ?"
    else:
        reaches_f = "r.last_i <= ?"
    db.execute(  # every other run is a spell of its own, closed at the next snapshot (open at the end)
        "INSERT INTO segment_membership (segment, profile_id, joined_at, left_at, backfilled) "
        "SELECT ?, r.profile_id, a.moment, b.next_moment, b.next_moment IS NOT NULL "
        "FROM _cdp_runs r JOIN _cdp_moments a ON a.i = r.first_i JOIN _cdp_moments b ON b.i = r.last_i "
        f"WHERE {reaches_f}",
        [segment, last_i],
    )
    counts = db.execute(
        "WITH s AS (SELECT DISTINCT s.profile_id, m.i FROM _cdp_snap s JOIN _cdp_moments m USING (moment)), "
        "size AS (SELECT i, count(*) AS n FROM s GROUP BY i), "
        "came AS (SELECT s.i, count(*) AS n FROM s LEFT JOIN s p ON p.profile_id = s.profile_id AND p.i = s.i - 1 "
        "WHERE p.profile_id IS NULL GROUP BY s.i), "
        "went AS (SELECT p.i + 1 AS i, count(*) AS n FROM s p LEFT JOIN s ON s.profile_id = p.profile_id AND s.i = p.i + 1 "
        "WHERE s.profile_id IS NULL GROUP BY p.i) "
        "SELECT m.moment, m.i, coalesce(size.n, 0), coalesce(came.n, 0), coalesce(went.n, 0) FROM _cdp_moments m "
        "LEFT JOIN size USING (i) LEFT JOIN came USING (i) LEFT JOIN went USING (i) ORDER BY m.i"
    ).fetchall()
    rows = []
    for moment, i, members, entered, gone in counts:
        if first is not None and i == last_i:
            db.execute(
                'UPDATE segment_refreshes SET entered = ?, "left" = ? WHERE segment = ? AND as_of = ? AND refreshed_at = '
                "(SELECT min(refreshed_at) FROM segment_refreshes WHERE segment = ? AND as_of = ?)",
                [entered, gone, segment, first, segment, first],
            )
            continue
        row = {"segment": segment, "refreshed_at": refreshed_at, "as_of": pd.Timestamp(moment),
               "members": int(members), "entered": int(entered), "left": int(gone), "backfilled": True}
        db.execute(f"INSERT INTO segment_refreshes ({_REFRESH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", list(row.values()))
        rows.append(row)
    drop_temp(ws, "_cdp_snap", "_cdp_moments", "_cdp_runs")
    return rows


def end_backfill(ws: Workspace) -> None:
    drop_temp(ws, BACKFILL_TABLE, BACKFILL_DAYS)
