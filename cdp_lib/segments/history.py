"""Segment membership over time: refresh, spells (joined/left), sizes, lookups and overlap.

Storage (contract in docs/architecture.md):

- `segment_membership`: one row per membership spell, `(segment, profile_id, joined_at,
  left_at)`, `left_at` null while the person is a member. A refresh opens spells for people who
  entered and closes the open spells of people who left, both stamped with the refresh's as-of
  moment, so history reads as "member from joined_at until left_at" in data time.
- `segment_refreshes`: one row per segment and refresh: `(segment, refreshed_at, as_of, members,
  entered, left, backfilled)`; `refreshed_at` is the wall clock, `as_of` the as-of moment
  evaluated, `backfilled` true for days reconstructed afterwards (`cdp_lib.segments.backfill`).
- `segment_current`: the open spells only, `(segment, profile_id, joined_at)`, rewritten after
  each change and sorted by profile_id, so looking up one person reads a single row group;
  `segment_current_emails` `(email_key, profile_id)` does the same for lookups by email.

Evaluation is Ibis; applying a refresh's changes (UPDATE of open spells) is DuckDB SQL with bound
parameters at the storage edge (`cdp_lib.segments.store`), inside one transaction: a failed
refresh leaves no trace.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import as_of_end
from cdp_lib.errors import InputError, NotComputedError
from cdp_lib.segments.compile import Compiler, Facts
from cdp_lib.segments.definition import SegmentDefinition, suggest
from cdp_lib.segments.library import DEFAULT_FOLDER, dependency_order, load_library
from cdp_lib.segments.store import (  # noqa: F401  (the storage edge; re-exported for callers)
    CURRENT, MEMBERSHIP, REFRESHES, ensure_tables, rebuild_current, store_members,
)
from cdp_lib.workspace import Workspace


def _need(ws: Workspace, table: str) -> ir.Table:
    if not ws.has_table(table):
        raise NotComputedError(f"no segment history in {ws.path or ws.backend_name}; run 'cdp segment refresh' first")
    return ws.table(table)


# -- reading -----------------------------------------------------------------------------------
def current_members(ws: Workspace, segment: str) -> ir.Table:
    """People in `segment` now (open spells), as an Ibis table of `profile_id`."""
    t = _need(ws, "segment_membership")
    return t.filter((t.segment == segment) & t.left_at.isnull()).select("profile_id")


def members_at(ws: Workspace, segment: str, moment: Any) -> ir.Table:
    """People who were in `segment` at `moment` (a timestamp, UTC), from stored history."""
    t = _need(ws, "segment_membership")
    at = ibis.literal(pd.Timestamp(moment).tz_localize("UTC") if pd.Timestamp(moment).tzinfo is None else pd.Timestamp(moment))
    live = (t.joined_at <= at) & (t.left_at.isnull() | (t.left_at > at))
    return t.filter((t.segment == segment) & live).select("profile_id")


def stored_segments(ws: Workspace) -> list[str]:
    if not ws.has_table("segment_refreshes"):
        return []
    t = ws.table("segment_refreshes")
    return sorted(t.select("segment").distinct().segment.execute())


def members_of(ws: Workspace, segment: str, library: Mapping[str, SegmentDefinition] | None = None,
               as_of: Any = None) -> ir.Table:
    """Members of a segment: the stored current membership after a refresh (or of a sample);
    otherwise, or when `as_of` is given, the library definition evaluated as of the end of the
    as-of date (today by default, `cdp_lib.dates.as_of_end`)."""
    if as_of is None and segment in stored_segments(ws):
        return current_members(ws, segment)
    library = load_library(missing_ok=True) if library is None else library
    if segment not in library:
        known = set(library) | set(stored_segments(ws))
        raise InputError(f"no segment named {segment!r}{suggest(segment, known)}; 'cdp segment list' shows them")
    return Compiler(ws, as_of, library).members(library[segment])


def sizes_table(ws: Workspace, segments: Iterable[str] | None = None) -> ir.Table:
    """Segment sizes over time: one row per segment and refresh, oldest first."""
    t = _need(ws, "segment_refreshes")
    if segments is not None:
        t = t.filter(t.segment.isin(list(segments)))
    return t.order_by(["segment", "as_of", "refreshed_at"])


def changes_table(ws: Workspace, segment: str | None = None, since: Any = None) -> ir.Table:
    """Who entered and who left: `segment, profile_id, change ('entered'|'left'), at`.

    `since` (a timestamp) keeps changes after it; by default the changes of each segment's
    latest refresh are returned (what a retention flow triggers on).
    """
    t = _need(ws, "segment_membership")
    if segment is not None:
        t = t.filter(t.segment == segment)
    entered = t.select("segment", "profile_id", change=ibis.literal("entered"), at=t.joined_at)
    left = t.filter(t.left_at.notnull()).select("segment", "profile_id", change=ibis.literal("left"), at=t.left_at)
    both = entered.union(left)
    if since is not None:
        ts = pd.Timestamp(since)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        return both.filter(both.at > ibis.literal(ts)).order_by(["segment", "at", "change", "profile_id"])
    r = _need(ws, "segment_refreshes")
    latest = r.group_by("segment").agg(last_as_of=r.as_of.max())
    joined = both.inner_join(latest, "segment")
    return joined.filter(joined.at == joined.last_as_of).drop("last_as_of").order_by(["segment", "change", "profile_id"])


def segments_for(ws: Workspace, profile_id_or_email: str) -> pd.DataFrame:
    """Segments a person is in now, with `joined_at`; by profile id or (case-insensitive) email.

    Reads `segment_current`, which is sorted by profile id: a point lookup, fast enough for a
    web request on millions of profiles.
    """
    key = str(profile_id_or_email).strip()
    if ws.is_duckdb:
        # Storage edge: one bound-parameter point query on the sorted tables, no Ibis compile
        # and no catalog listing (each costs milliseconds).
        from cdp_lib.membership import segment_rows

        try:
            rows = segment_rows(ws.duckdb, key)
        except Exception:  # duckdb.CatalogException: no refresh yet
            _need(ws, "segment_current")
            _need(ws, "segment_current_emails")
            raise
        out = pd.DataFrame(rows, columns=["segment", "joined_at"])
        out["joined_at"] = pd.to_datetime(out["joined_at"], utc=True)
        return out
    t = _need(ws, "segment_current")
    if "@" in key:
        p = ws.profiles
        ids = p.filter(p.email.strip().lower() == key.lower()).profile_id
        hit = t.filter(t.profile_id.isin(ids))
    else:
        hit = t.filter(t.profile_id == key)
    return hit.select("segment", "joined_at").order_by("segment").execute()


def overlap_table(ws: Workspace, segments: Iterable[str], library: Mapping | None = None) -> pd.DataFrame:
    """Segment-by-segment overlap: people in both row and column segment (diagonal = size)."""
    names = list(dict.fromkeys(segments))
    if not names:
        raise InputError("overlap needs at least one segment name")
    parts = [members_of(ws, n, library).select("profile_id", segment=ibis.literal(n)) for n in names]
    m = ibis.union(*parts) if len(parts) > 1 else parts[0]
    other = m.select(profile_id_b="profile_id", segment_b="segment")
    pairs = m.inner_join(other, m.profile_id == other.profile_id_b)
    counts = pairs.group_by(["segment", "segment_b"]).agg(people=pairs.count()).execute()
    matrix = counts.pivot(index="segment", columns="segment_b", values="people").reindex(index=names, columns=names)
    matrix = matrix.fillna(0).astype(int)
    matrix.index.name, matrix.columns.name = "segment", None
    return matrix


# -- writing -----------------------------------------------------------------------------------
def refresh(ws: Workspace, folder: str | os.PathLike = DEFAULT_FOLDER, as_of: Any = None,
            names: Iterable[str] | None = None, library: Mapping[str, SegmentDefinition] | None = None,
            progress=None, backfill_days: int | None = None) -> pd.DataFrame:
    """Evaluate the library in dependency order and store a dated membership snapshot of each.

    Every definition is checked against the workspace before anything is written; the whole
    refresh is one transaction. `names` limits the refresh to those segments (their
    dependencies are evaluated, not stored). Returns one row per segment: members, entered, left.

    `backfill_days` first reconstructs the daily history of the days before the as-of date
    (`cdp_lib.segments.backfill.backfill`, in the same transaction); the result then also has
    the columns `backfilled_days`, `backfill_from` and `backfill_note`.
    """
    if backfill_days is not None:
        from cdp_lib.segments.backfill import backfill_rows, check_days

        check_days(backfill_days)
    library = load_library(folder) if library is None else dict(library)
    order = dependency_order(library)
    wanted = set(order) if names is None else set(names)
    for n in wanted - set(library):
        raise InputError(f"no segment named {n!r} in {folder}{suggest(n, library)}")
    moment = as_of_end(as_of)
    refreshed_at = pd.Timestamp.now(tz="UTC")
    if ws.is_duckdb:
        ensure_tables(ws)
    facts = Facts(ws)
    from cdp_lib.segments.compile import check_definition

    for name in order:
        check_definition(ws, library[name], library, facts)
    if not ws.is_duckdb:  # no UPDATE on a lake: the same history, rewritten through Ibis
        from cdp_lib.segments.engine_store import refresh_in_engine

        return refresh_in_engine(ws, library, order, wanted, as_of, moment, refreshed_at, facts,
                                 list(REFRESHES), progress)
    resolved: dict[str, ir.Table] = {}
    rows = []
    temps = []
    filled = None
    with ws.transaction():
        if backfill_days is not None:
            filled = backfill_rows(ws, library, [n for n in order if n in wanted], backfill_days, as_of,
                                   facts, refreshed_at)
        for i, name in enumerate(order):
            compiler = Compiler(ws, as_of, library, resolved, facts)
            members = compiler.members(library[name])
            tmp = f"_cdp_segment_{i}"
            temps.append(tmp)
            ws.con.create_table(tmp, members, temp=True, overwrite=True)
            resolved[name] = ws.con.table(tmp)
            if name in wanted:
                rows.append(store_members(ws, name, resolved[name], moment, refreshed_at))
            if progress is not None:
                progress(name)
        rebuild_current(ws)
    for tmp in temps + ["_cdp_segment_new"]:
        ws.duckdb.execute(f'DROP TABLE IF EXISTS temp."{tmp}"')
    out = pd.DataFrame(rows, columns=list(REFRESHES))
    if filled is not None:
        extra = filled.set_index("segment")
        for col, src in (("backfilled_days", "days"), ("backfill_from", "from"), ("backfill_note", "note")):
            out[col] = out["segment"].map(extra[src])
    return out
