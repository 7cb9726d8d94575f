"""Segment membership history on engines without UPDATE (Spark over a lake), in Ibis.

The DuckDB workspace applies a refresh with UPDATE/INSERT statements in one transaction
(`cdp_lib.segments.history`). A lake is immutable files, so here the refresh computes the whole
next `segment_membership` as one Ibis expression and stores it with `Workspace.write_table`
(new files, then the manifest, then the old files go): the same spells, counts and tables, and a
failed refresh leaves the previous history in place.

Rules, as on DuckDB: open spells of people no longer in a refreshed segment get `left_at` = the
as-of moment; people newly in it get a spell with `joined_at` = the as-of moment; spells of
other segments and closed spells are kept unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.errors import InputError
from cdp_lib.segments.compile import Compiler, Facts
from cdp_lib.segments.definition import SegmentDefinition
from cdp_lib.workspace import Workspace

UTC_TIMESTAMP = "timestamp('UTC')"


def refresh_in_engine(ws: Workspace, library: Mapping[str, SegmentDefinition], order: Iterable[str],
                      wanted: set[str], as_of: Any, moment: pd.Timestamp, refreshed_at: pd.Timestamp,
                      facts: Facts, columns: list[str], progress: Callable | None = None) -> pd.DataFrame:
    """Evaluate `order`, store the new history of the `wanted` segments; one row per stored segment."""
    old = ws.table("segment_membership") if ws.has_table("segment_membership") else None
    stored = [n for n in order if n in wanted]
    if ws.has_table("segment_refreshes") and stored:
        r = ws.table("segment_refreshes")
        last = r.filter(r.segment.isin(stored)).group_by("segment").agg(last=r.as_of.max()).execute()
        for seg, at in zip(last["segment"], last["last"]):
            if pd.Timestamp(at) > moment:
                raise InputError(
                    f"segment {seg!r} was last refreshed as of {pd.Timestamp(at):%Y-%m-%d %H:%M}; history only "
                    f"moves forward, so a refresh as of {moment:%Y-%m-%d %H:%M} is refused (use a later as-of date)"
                )
    resolved: dict[str, ir.Table] = {}
    parts = []
    for name in order:
        members = Compiler(ws, as_of, library, resolved, facts).members(library[name])
        # Not materialised one by one (a job each on Spark): segments that use `in_segment`
        # inline the referenced expression; all stored segments are materialised once below.
        resolved[name] = members.select("profile_id").distinct()
        if name in wanted:
            parts.append(resolved[name].mutate(segment=ibis.literal(name, type="string")))
        if progress is not None:
            progress(name)
    if not parts:
        return pd.DataFrame(columns=columns)
    new = ibis.union(*parts).select("segment", "profile_id").cache()
    at = ibis.literal(moment, type=UTC_TIMESTAMP)
    none = ibis.null(UTC_TIMESTAMP)
    entered_rows = new
    if old is not None:
        is_open = old.left_at.isnull() & old.segment.isin(stored)
        open_ = old.filter(is_open)
        marked = open_.left_join(new, ["segment", "profile_id"], rname="{name}_new")
        closed = marked.select(
            "segment", "profile_id", "joined_at",
            left_at=ibis.ifelse(marked.profile_id_new.isnull(), at, marked.left_at),
            backfilled=_flag(marked),
        )
        entered_rows = new.anti_join(open_, ["segment", "profile_id"])
    spells = entered_rows.select("segment", "profile_id", joined_at=at, left_at=none,
                                 backfilled=ibis.literal(False))
    if old is not None:
        kept = old.filter(~is_open).select("segment", "profile_id", "joined_at", "left_at", backfilled=_flag(old))
        history = ibis.union(*(_typed(t) for t in (kept, closed, spells)))
    else:
        history = _typed(spells)
    size = new.group_by("segment").agg(members=new.count()).execute()
    entered = entered_rows.group_by("segment").agg(n=entered_rows.count()).execute()
    if old is not None:
        gone = closed.filter(closed.left_at == at)
        left = gone.group_by("segment").agg(n=gone.count()).execute()
    else:
        left = pd.DataFrame(columns=["segment", "n"])
    ws.write_table("segment_membership", history, mode="replace")
    rows = []
    for name in stored:
        rows.append({
            "segment": name, "refreshed_at": refreshed_at, "as_of": moment,
            "members": _count(size, name, "members"), "entered": _count(entered, name, "n"),
            "left": _count(left, name, "n"), "backfilled": False,
        })
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("refreshed_at", "as_of"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[us, UTC]")
    for col in ("members", "entered", "left"):
        frame[col] = frame[col].astype("int64")
    ws.write_table("segment_refreshes", frame, mode="append")
    rebuild_current(ws)
    return frame


def _typed(t: ir.Table) -> ir.Table:
    """One column type per column, whatever precision a backend reports for stored timestamps."""
    return t.cast({"segment": "string", "profile_id": "string", "joined_at": UTC_TIMESTAMP, "left_at": UTC_TIMESTAMP,
                   "backfilled": "boolean"})


def _flag(t: ir.Table) -> ir.BooleanValue:
    """A spell's `backfilled` mark (history written before the column existed has none)."""
    return t.backfilled.fill_null(False) if "backfilled" in t.columns else ibis.literal(False)


def _count(frame: pd.DataFrame, segment: str, column: str) -> int:
    hit = frame.loc[frame["segment"] == segment, column]
    return int(hit.iloc[0]) if len(hit) else 0


def rebuild_current(ws: Workspace) -> None:
    """`segment_current` (open spells) and `segment_current_emails`, as on DuckDB."""
    m = ws.table("segment_membership")
    current = m.filter(m.left_at.isnull()).select("segment", "profile_id", "joined_at")
    ws.write_table("segment_current", current.order_by(["profile_id", "segment"]), mode="replace")
    c = ws.table("segment_current")
    p = ws.profiles
    emails = p.filter(p.email.notnull() & p.profile_id.isin(c.profile_id))
    emails = emails.select(email_key=emails.email.strip().lower(), profile_id=emails.profile_id).distinct()
    ws.write_table("segment_current_emails", emails.order_by("email_key"), mode="replace")
