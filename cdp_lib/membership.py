"""Segment membership point lookups at the storage edge: who is in which segment now.

Kept apart from `cdp_lib.segments` (which compiles definitions with Ibis) so that a lookup from
the command line or a web request loads DuckDB only (`segment_rows`). Reads `segment_current`
and `segment_current_emails`, which `cdp segment refresh` writes sorted by their key.
`segments_for` (behind `Workspace.segments_for`) answers the same as a DataFrame on any engine;
it lives here, not in `cdp_lib.segments`, so the workspace imports nothing of the analyses.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from cdp_lib.errors import InputError, NotComputedError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from cdp_lib.workspace import Workspace

_BY_ID = "SELECT segment, joined_at FROM segment_current WHERE profile_id = {key} ORDER BY segment"
_BY_EMAIL = (
    "SELECT c.segment, c.joined_at FROM segment_current c WHERE c.profile_id IN "
    "(SELECT profile_id FROM segment_current_emails WHERE email_key = {key}) ORDER BY c.segment"
)


def segment_rows(con, profile_id_or_email: str) -> list[tuple[str, dt.datetime]]:
    """`(segment, joined_at UTC)` of a person now, by profile id or (case-insensitive) email.

    `con` is a DuckDB connection. Raises the engine's catalog error when no refresh has run.
    """
    key = str(profile_id_or_email).strip()
    query, key = (_BY_EMAIL, key.lower()) if "@" in key else (_BY_ID, key)
    # A quoted literal, not a bound parameter: DuckDB's Python binding imports pandas to inspect
    # bound parameters, which would triple the start-up time of a lookup.
    rows = con.execute(query.format(key=_literal(key))).fetchall()
    return [(segment, _utc(joined)) for segment, joined in rows]


def require_history(ws: Workspace, table: str) -> ir.Table:
    """`table` of the stored segment history; NotComputedError naming the command when absent."""
    if not ws.has_table(table):
        raise NotComputedError(f"no segment history in {ws.path or ws.backend_name}; run 'cdp segment refresh' first")
    return ws.table(table)


def segments_for(ws: Workspace, profile_id_or_email: str) -> pd.DataFrame:
    """Segments a person is in now, with `joined_at`; by profile id or (case-insensitive) email.

    Reads `segment_current`, which is sorted by profile id: a point lookup, fast enough for a
    web request on millions of profiles (`Workspace.segments_for` calls this).
    """
    import pandas as pd

    key = str(profile_id_or_email).strip()
    if ws.is_duckdb:
        # One point query on the sorted tables, no Ibis compile and no catalog listing (each
        # costs milliseconds).
        try:
            rows = segment_rows(ws.duckdb, key)
        except Exception:  # duckdb.CatalogException: no refresh yet
            require_history(ws, "segment_current")
            require_history(ws, "segment_current_emails")
            raise
        out = pd.DataFrame(rows, columns=["segment", "joined_at"])
        out["joined_at"] = pd.to_datetime(out["joined_at"], utc=True)
        return out
    t = require_history(ws, "segment_current")
    if "@" in key:
        p = ws.profiles
        ids = p.filter(p.email.strip().lower() == key.lower()).profile_id
        hit = t.filter(t.profile_id.isin(ids))
    else:
        hit = t.filter(t.profile_id == key)
    return hit.select("segment", "joined_at").order_by("segment").execute()


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value if value is None else value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _literal(text: str) -> str:
    """A SQL string literal: quotes doubled, NUL refused (a key never holds one)."""
    if "\x00" in text:
        raise InputError(f"lookup key {text!r} contains a NUL character; give a profile id or an email")
    return "'" + text.replace("'", "''") + "'"
