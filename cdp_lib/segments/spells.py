"""Reading stored membership spells (engine-neutral Ibis): who is in a segment now or at a moment.

Below `compile` (which reads a stored segment that has no definition through `current_members`)
and below `history` (which re-exports these), so the package has no import cycle.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.membership import require_history as _need
from cdp_lib.workspace import Workspace


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
