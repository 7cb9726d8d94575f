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

Evaluation is Ibis; applying a refresh's changes (UPDATE of open spells, the temp tables of
the evaluated members) is DuckDB SQL with bound parameters at the storage edge
(`cdp_lib.segments.store`), inside one transaction: a failed refresh leaves no trace. Reading
spells is in `cdp_lib.segments.spells`, the point lookup in `cdp_lib.membership`.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import as_of_end
from cdp_lib.errors import InputError
from cdp_lib.membership import segments_for  # noqa: F401  (re-exported: the point lookup)
from cdp_lib.segments import store
from cdp_lib.segments.compile import Compiler, Facts
from cdp_lib.segments.definition import SegmentDefinition, suggest
from cdp_lib.segments.library import DEFAULT_FOLDER, dependency_order, load_library
from cdp_lib.segments.spells import _need, current_members, members_at, stored_segments  # noqa: F401  (re-exported)
from cdp_lib.segments.store import (  # noqa: F401  (the storage edge; re-exported for callers)
    CURRENT, MEMBERSHIP, REFRESHES, ensure_tables, rebuild_current, store_members,
)
from cdp_lib.workspace import Workspace


# -- reading -----------------------------------------------------------------------------------
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
            tmp = f"_cdp_segment_{i}"
            temps.append(tmp)
            # Evaluated once: segments that refer to this one read the stored members.
            resolved[name] = store.stage(ws, tmp, compiler.members(library[name]))
            if name in wanted:
                rows.append(store_members(ws, name, resolved[name], moment, refreshed_at))
            if progress is not None:
                progress(name)
        rebuild_current(ws)
    store.drop_temp(ws, *temps, store.NEW_MEMBERS)
    out = pd.DataFrame(rows, columns=list(REFRESHES))
    if filled is not None:
        extra = filled.set_index("segment")
        for col, src in (("backfilled_days", "days"), ("backfill_from", "from"), ("backfill_note", "note")):
            out[col] = out["segment"].map(extra[src])
    return out
