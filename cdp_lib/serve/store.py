"""Point lookups for the membership API (storage edge: DuckDB statements on the snapshot).

A key is resolved to a profile in this order: a profile id; then, through `identities` (every
identifier ever seen, re-pointed on merges), a profile id merged into another profile, an email
(trimmed, lower-cased) or an external id; then the `profiles` columns themselves (workspaces built
without ingest have no `identities`). Segments are read from `segment_current`, which is sorted by
profile id, so a lookup reads one row group.
"""

from __future__ import annotations

from cdp_lib.workspace import Workspace


def _one(db, sql: str, args: list):
    try:
        row = db.execute(sql, args).fetchone()
    except Exception:  # duckdb.CatalogException: the table is not in this workspace
        return None
    return row[0] if row else None


def resolve_profile(ws: Workspace, key: str) -> str | None:
    """The profile id a key (profile id, email or external id) names, or None."""
    db = ws.duckdb
    key = key.strip()
    if not key:
        return None
    hit = _one(db, "SELECT profile_id FROM profiles WHERE profile_id = ?", [key])
    if hit is not None:
        return hit
    kinds = ["profile_id", "email", "external_id"] if "@" in key else ["profile_id", "external_id"]
    for kind in kinds:
        value = key.lower() if kind == "email" else key
        hit = _one(db, "SELECT profile_id FROM identities WHERE kind = ? AND value = ? LIMIT 1", [kind, value])
        if hit is not None:
            return hit
    if "@" in key:
        hit = _one(db, "SELECT profile_id FROM profiles WHERE lower(trim(email)) = ? ORDER BY profile_id LIMIT 1",
                   [key.lower()])
        if hit is not None:
            return hit
    return _one(db, "SELECT profile_id FROM profiles WHERE external_id = ? ORDER BY profile_id LIMIT 1", [key])


def has_membership(ws: Workspace) -> bool:
    return _one(ws.duckdb, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'segment_current'", []) == 1


def profile_segments(ws: Workspace, profile_id: str) -> list[str]:
    rows = ws.duckdb.execute("SELECT segment FROM segment_current WHERE profile_id = ? ORDER BY segment",
                             [profile_id]).fetchall()
    return [r[0] for r in rows]
