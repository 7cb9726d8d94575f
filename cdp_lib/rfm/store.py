"""RFM results kept in the workspace: dated snapshots and the profile attributes built from them."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import parse_date
from cdp_lib.workspace import Workspace
from cdp_lib.rfm.groups import ATTRIBUTES_TABLE, SNAPSHOTS_TABLE, SNAPSHOT_COLUMNS


def save_rfm_snapshot(ws: Workspace, rfm: ir.Table | pd.DataFrame, as_of: dt.date) -> int:
    """Store `rfm` as the snapshot of `as_of` in `rfm_snapshots` (replacing that date's rows),
    then rewrite `rfm_profile_attributes`. Returns the number of rows stored."""
    as_of = parse_date(as_of, "as_of")
    if isinstance(rfm, pd.DataFrame):
        rfm = ibis.memtable(rfm[list(SNAPSHOT_COLUMNS[1:])])
    rows = rfm.select(
        as_of=ibis.literal(as_of, type="date"),
        profile_id=rfm.profile_id.cast("string"),
        recency_days=rfm.recency_days.cast("int64"),
        frequency=rfm.frequency.cast("int64"),
        monetary=rfm.monetary.cast("float64"),
        r_score=rfm.r_score.cast("int64"),
        f_score=rfm.f_score.cast("int64"),
        m_score=rfm.m_score.cast("int64"),
        rfm_group=rfm.rfm_group.cast("string"),
    )
    if ws.has_table(SNAPSHOTS_TABLE):
        old = ws.table(SNAPSHOTS_TABLE)
        rows = old.filter(old.as_of != as_of).select(*SNAPSHOT_COLUMNS).union(rows)
    ws.write_table(SNAPSHOTS_TABLE, rows, mode="replace")
    refresh_rfm_profile_attributes(ws)
    snaps = ws.table(SNAPSHOTS_TABLE)
    return int(snaps.filter(snaps.as_of == as_of).count().execute())


def rfm_profile_attributes_table(snapshots: ir.Table) -> ir.Table:
    """From dated snapshots, per customer in the latest snapshot: `current_rfm_group`,
    `previous_rfm_group` (the last group different from the current one, null if none) and
    `rfm_group_last_changed` (as-of date of the first snapshot of the current run of groups)."""
    w = ibis.window(group_by="profile_id", order_by="as_of")
    s = snapshots.mutate(prev_group=snapshots.rfm_group.lag().over(w))
    starts = s.filter(s.prev_group.isnull() | (s.prev_group != s.rfm_group))
    last = starts.group_by("profile_id").agg(changed=starts.as_of.max())
    run = starts.inner_join(last, (starts.profile_id == last.profile_id) & (starts.as_of == last.changed))
    run = run.select(starts.profile_id, previous_rfm_group=starts.prev_group, rfm_group_last_changed=starts.as_of)
    current = snapshots.filter(snapshots.as_of == snapshots.as_of.max().as_scalar())
    out = current.inner_join(run, current.profile_id == run.profile_id)
    return out.select(
        current.profile_id, current_rfm_group=current.rfm_group,
        previous_rfm_group=run.previous_rfm_group, rfm_group_last_changed=run.rfm_group_last_changed,
    )


def refresh_rfm_profile_attributes(ws: Workspace) -> None:
    """Rewrite `rfm_profile_attributes` from `rfm_snapshots`."""
    ws.write_table(ATTRIBUTES_TABLE, rfm_profile_attributes_table(ws.table(SNAPSHOTS_TABLE)), mode="replace")
