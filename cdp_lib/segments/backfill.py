"""Backfill: reconstruct a segment's daily membership for the days before its history starts.

History normally starts at the first `cdp segment refresh`, so a fresh store has no membership
for last month and audience performance credits almost nothing to any segment. A definition can
be evaluated at a past date when everything it reads has a past: events (every event condition
ignores events after the as-of moment), profile properties (their current values, as for any
past as-of date), consent and location, and RFM groups (from `rfm_snapshots`: the latest snapshot
on or before the day). CLV predictions exist only as of the last `cdp clv` run, and stored
samples have no definition, so segments that use them (directly or through `in_segment`) are
skipped with the reason.

Each reconstructed day d is evaluated as of the end of d (`cdp_lib.dates.as_of_end`), exactly as
`cdp segment run --as-of d` would, and recorded as a `segment_refreshes` row with `backfilled`
true; spells are joined up with the recorded history (`cdp_lib.segments.store.apply_backfill`).
Only days earlier than a segment's first recorded moment are added, so a rerun changes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any, Iterable, Mapping

import pandas as pd

from cdp_lib.dates import as_of_day, as_of_end
from cdp_lib.errors import InputError
from cdp_lib.segments import store
from cdp_lib.segments.compile import COMPUTED, Compiler, Facts, check_definition
from cdp_lib.segments.definition import SegmentDefinition, suggest
from cdp_lib.segments.library import DEFAULT_FOLDER, dependency_order, load_library
from cdp_lib.workspace import Workspace

MAX_BACKFILL_DAYS = 3_660  # ten years of days
RFM_TABLE = "rfm_profile_attributes"
COLUMNS = ["segment", "days", "from", "to", "note"]


def check_days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_BACKFILL_DAYS:
        raise InputError(f"backfill: expected a whole number of days from 1 to {MAX_BACKFILL_DAYS:,}, got {days!r}")
    return days


def _computed(prop: str, facts: Facts) -> str | None:
    """The table a property comes from when it is a computed attribute (profile columns win)."""
    return None if prop in facts.profile_columns or prop not in COMPUTED else COMPUTED[prop][0]


def past_blocker(d: SegmentDefinition, library: Mapping[str, SegmentDefinition], facts: Facts,
                 trail: tuple[str, ...] = ()) -> str | None:
    """Why `d` cannot be evaluated at a past date, or None when it can."""
    for c in d.iter_conditions():
        if c["kind"] == "property" and _computed(c["property"], facts) not in (None, RFM_TABLE):
            prop = c["property"]
            return f"uses {prop!r}, a prediction known only as of the last '{COMPUTED[prop][1]}' run"
        if c["kind"] == "segment":
            ref = c["segment"]
            if ref not in library:
                return f"refers to {ref!r}, a stored sample, whose past membership is not a definition"
            if ref not in trail:
                why = past_blocker(library[ref], library, facts, trail + (d.name,))
                if why:
                    return f"refers to {ref!r}, which {why}"
    return None


def uses_rfm(d: SegmentDefinition, library: Mapping[str, SegmentDefinition], facts: Facts,
             trail: tuple[str, ...] = ()) -> bool:
    for c in d.iter_conditions():
        if c["kind"] == "property" and _computed(c["property"], facts) == RFM_TABLE:
            return True
        if c["kind"] == "segment" and c["segment"] in library and c["segment"] not in trail:
            if uses_rfm(library[c["segment"]], library, facts, trail + (d.name,)):
                return True
    return False


def _first_snapshot(ws: Workspace) -> dt.date | None:
    if not ws.has_table("rfm_snapshots"):
        return None
    first = ws.table("rfm_snapshots").as_of.min().execute()
    return None if first is None or pd.isna(first) else pd.Timestamp(first).date()


def _rfm_attributes_on(facts: Facts, day: dt.date):
    """RFM profile attributes as they stood on `day`: from the snapshots up to that date."""
    from cdp_lib.rfm import rfm_profile_attributes_table

    snaps = facts.table("rfm_snapshots")
    return rfm_profile_attributes_table(snaps.filter(snaps.as_of <= day))


def backfill_rows(ws: Workspace, library: Mapping[str, SegmentDefinition], names: Iterable[str], days: int,
                  as_of: Any, facts: Facts, refreshed_at: pd.Timestamp, progress=None) -> pd.DataFrame:
    """Reconstruct the `days` days before the as-of date for `names` (in dependency order).

    Runs inside the caller's transaction; definitions must have been checked. Returns one row
    per segment: `segment, days` (added), `from`, `to` (first and last day added) and `note`.
    """
    end_day = as_of_day(as_of)
    wanted = [end_day - dt.timedelta(days=k) for k in range(check_days(days), 0, -1)]
    first_snapshot = _first_snapshot(ws)
    out = []
    for name in names:
        d = library[name]
        why = past_blocker(d, library, facts)
        if why:
            out.append((name, 0, None, None, f"skipped: {why}"))
            continue
        first = store.first_moment(ws, name)
        todo = [day for day in wanted if first is None or as_of_end(day) < first]
        if not todo:
            out.append((name, 0, None, None, f"nothing to add: the history already starts {first:%Y-%m-%d}"))
            continue
        note = ""
        rfm = uses_rfm(d, library, facts)
        if rfm:
            early = [day for day in todo if first_snapshot is None or day < first_snapshot]
            todo = [day for day in todo if day not in early]
            if early:
                since = "no RFM snapshot exists" if first_snapshot is None else f"the first RFM snapshot is {first_snapshot}"
                note = f"days before {todo[0] if todo else end_day} skipped: {since} (run 'cdp rfm --as-of DATE' for earlier dates)"
            if not todo:
                out.append((name, 0, None, None, f"skipped: {note}"))
                continue
        store.start_backfill(ws)
        for day in todo:
            attributes = {RFM_TABLE: _rfm_attributes_on(facts, day)} if rfm else None
            members = Compiler(ws, day, library, {}, facts, attributes).members(d)
            store.add_backfill_day(ws, members, as_of_end(day))
        store.apply_backfill(ws, name, refreshed_at)
        store.end_backfill(ws)
        out.append((name, len(todo), todo[0], todo[-1], note or f"{len(todo)} days reconstructed"))
        if progress is not None:
            progress(name)
    return pd.DataFrame(out, columns=COLUMNS)


def backfill(ws: Workspace, days: int, as_of: Any = None, folder: str | os.PathLike = DEFAULT_FOLDER,
             names: Iterable[str] | None = None, library: Mapping[str, SegmentDefinition] | None = None,
             progress=None) -> pd.DataFrame:
    """Reconstruct daily membership history for the `days` days before the as-of date.

    One transaction; every definition is checked first. Idempotent: only days earlier than each
    segment's recorded history are added, so running it again adds nothing. `cdp segment
    refresh --backfill DAYS` runs this and then the refresh, in one transaction.
    """
    check_days(days)
    library = load_library(folder) if library is None else dict(library)
    order = dependency_order(library)
    chosen = set(order) if names is None else set(names)
    for n in chosen - set(library):
        raise InputError(f"no segment named {n!r} in {folder}{suggest(n, library)}")
    store.ensure_tables(ws)
    facts = Facts(ws)
    for name in order:
        check_definition(ws, library[name], library, facts)
    refreshed_at = pd.Timestamp.now(tz="UTC")
    with ws.transaction():
        result = backfill_rows(ws, library, [n for n in order if n in chosen], days, as_of, facts, refreshed_at,
                               progress)
        store.rebuild_current(ws)
    return result
