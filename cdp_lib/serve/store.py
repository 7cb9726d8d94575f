"""Lookups for the membership API (storage edge: DuckDB statements on the snapshot).

A key is resolved to a profile in this order: a profile id; then, through `identities` (every
identifier ever seen, re-pointed on merges), a profile id merged into another profile, an email
(trimmed, lower-cased) or an external id; then the `profiles` columns themselves (workspaces built
without ingest have no `identities`). Where two profiles share a key the smallest id wins.

The snapshot is read-only, so its keys and current memberships (`segment_current`) are read
once into memory (`KeyIndex`, rebuilt when a new snapshot is published) and a request costs two
dictionary look-ups instead of queries (66 MB for the 100k demo store, benchmarks/RESULTS.md).
"""

from __future__ import annotations

from cdp_lib.workspace import Workspace


def _rows(db, sql: str) -> list[tuple]:
    try:
        return db.execute(sql).fetchall()
    except Exception:  # duckdb.CatalogException: the table is not in this workspace
        return []


class KeyIndex:
    """Profile ids, emails and external ids of one snapshot, mapped to profile ids."""

    def __init__(self, ws: Workspace):
        db = ws.duckdb
        self.profile_ids = {r[0] for r in _rows(db, "SELECT profile_id FROM profiles")}
        self.by_identity: dict[tuple[str, str], str] = {}
        for kind, value, pid in _rows(db, "SELECT kind, value, profile_id FROM identities "
                                          "WHERE kind IN ('profile_id', 'email', 'external_id') ORDER BY profile_id"):
            self.by_identity.setdefault((kind, value), pid)
        self.by_column: dict[tuple[str, str], str] = {}
        for pid, email, external_id in _rows(db, "SELECT profile_id, lower(trim(email)), external_id FROM profiles "
                                                 "ORDER BY profile_id"):
            if email:
                self.by_column.setdefault(("email", email), pid)
            if external_id is not None:
                self.by_column.setdefault(("external_id", external_id), pid)
        self.has_membership = bool(_rows(db, "SELECT 1 FROM information_schema.tables WHERE table_name = 'segment_current'"))
        self.segments: dict[str, tuple[str, ...]] = {}
        names: dict[str, str] = {}
        for pid, segs in _rows(db, "SELECT profile_id, list(segment ORDER BY segment) FROM segment_current GROUP BY profile_id"):
            self.segments[pid] = tuple(names.setdefault(x, x) for x in segs)

    def segments_of(self, profile_id: str) -> list[str]:
        """The profile's current segments, sorted by name."""
        return list(self.segments.get(profile_id, ()))

    def resolve(self, key: str) -> str | None:
        """The profile id a key (profile id, email or external id) names, or None."""
        key = key.strip()
        if not key:
            return None
        if key in self.profile_ids:
            return key
        kinds = ("profile_id", "email", "external_id") if "@" in key else ("profile_id", "external_id")
        for kind in kinds:
            hit = self.by_identity.get((kind, key.lower() if kind == "email" else key))
            if hit is not None:
                return hit
        if "@" in key:
            hit = self.by_column.get(("email", key.lower()))
            if hit is not None:
                return hit
        return self.by_column.get(("external_id", key))
