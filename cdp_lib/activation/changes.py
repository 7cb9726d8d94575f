"""What a trigger has to send: segment entries/exits, RFM group changes and new events.

Each change has a stable key, so the outbox can tell a change it already sent from a new one:

- segment: ``segment|<segment>|<profile_id>|entered|<joined_at>`` (or ``left|<left_at>``);
- RFM: ``rfm|<profile_id>|<previous group>|<current group>|<rfm_group_last_changed>``;
- metric: ``event|<event_id>``.

Where a trigger starts (its cursor): the first run of a segment trigger takes the changes of the
segment's latest refresh, an RFM trigger the changes of the latest RFM run, and later runs every
change at or after the moment the previous run looked at; older history is never replayed.
Membership rows marked ``backfilled`` (reconstructed history) never fire. A metric trigger looks
at events from its ``since`` date (default: the day of its first run, UTC) and, once it has seen
events, at those no older than ``late_days`` before the newest one seen, so events that arrive
late and out of order are still sent once.

All reading is Ibis over the workspace; the result is a small pandas frame per trigger.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib import metrics
from cdp_lib.activation.triggers import TriggerParams
from cdp_lib.errors import NotComputedError
from cdp_lib.workspace import Workspace

CONTACT_FIELDS = ("profile_id", "email", "external_id", "phone")


def _ts(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return _ts(value).isoformat()


def check_trigger(ws: Workspace, trigger: TriggerParams, library: Mapping | None = None) -> None:
    """Check that the data a trigger reads exists (raises naming the command to run first)."""
    if trigger.kind == "segment":
        if not ws.has_table("segment_refreshes"):
            raise NotComputedError(f"{trigger.source}: no segment history yet; run 'cdp segment refresh' first")
        r = ws.table("segment_refreshes")
        if int(r.filter(r.segment == trigger.segment).count().execute()) == 0:
            from cdp_lib.keys import suggest

            known = sorted(r.select("segment").distinct().segment.execute())
            raise NotComputedError(
                f"{trigger.source}: segment {trigger.segment!r} has no stored history{suggest(trigger.segment, known)}; "
                "refresh it with 'cdp segment refresh' first")
    elif trigger.kind == "rfm":
        if not ws.has_table("rfm_profile_attributes"):
            raise NotComputedError(f"{trigger.source}: no RFM groups yet; run 'cdp rfm' first")
    else:
        metrics.events_for(ws, trigger.metric)  # raises InputError for an unknown metric
    if trigger.filter is not None:
        from cdp_lib.segments.compile import check_definition

        check_definition(ws, trigger.filter, library or {})


def _with_filter(ws: Workspace, rows: ir.Table, trigger: TriggerParams, library: Mapping | None) -> ir.Table:
    if trigger.filter is None:
        return rows
    from cdp_lib.segments.compile import Compiler

    members = Compiler(ws, None, library or {}).members(trigger.filter)
    return rows.filter(rows.profile_id.isin(members.profile_id))


def _with_contacts(ws: Workspace, rows: ir.Table) -> ir.Table:
    p = ws.profiles
    contacts = p.select(_pid=p.profile_id, email=p.email, external_id=p.external_id, phone=p.phone)
    joined = rows.left_join(contacts, rows.profile_id == contacts._pid)
    return joined.drop("_pid")


def segment_changes(ws: Workspace, trigger: TriggerParams, cursor: str | None,
                    library: Mapping | None = None) -> tuple[list[tuple[str, dict]], str | None]:
    """`(key, item)` pairs of a segment trigger at or after `cursor`, and the next cursor."""
    t = ws.table("segment_membership")
    t = t.filter(t.segment == trigger.segment)
    if "backfilled" in t.columns:
        t = t.filter(~t.backfilled.fill_null(False))
    if trigger.change == "entered":
        rows = t.select("profile_id", at=t.joined_at)
    else:
        rows = t.filter(t.left_at.notnull()).select("profile_id", at=t.left_at)
    r = ws.table("segment_refreshes")
    latest = r.filter(r.segment == trigger.segment).as_of.max().execute()
    start = _ts(cursor) if cursor else _ts(latest)
    rows = rows.filter(rows.at >= ibis.literal(start))
    rows = _with_contacts(ws, _with_filter(ws, rows, trigger, library))
    df = rows.order_by(["at", "profile_id"]).execute()
    out = []
    for rec in df.to_dict("records"):
        at = _iso(rec["at"])
        item = {**{f: _plain(rec.get(f)) for f in CONTACT_FIELDS}, "change": trigger.change,
                "segment": trigger.segment, "at": at}
        out.append((f"segment|{trigger.segment}|{rec['profile_id']}|{trigger.change}|{at}", item))
    return out, _iso(latest)


def rfm_changes(ws: Workspace, trigger: TriggerParams, cursor: str | None,
                library: Mapping | None = None) -> tuple[list[tuple[str, dict]], str | None]:
    """`(key, item)` pairs of an RFM trigger: current group in `to`, previous in `from`."""
    a = ws.table("rfm_profile_attributes")
    cond = a.current_rfm_group.isin(list(trigger.rfm_to))
    if trigger.rfm_from:
        real = [g for g in trigger.rfm_from if g != "Never purchased"]
        prev = a.previous_rfm_group.isin(real) if real else ibis.literal(False)
        if "Never purchased" in trigger.rfm_from:
            prev = prev | a.previous_rfm_group.isnull()
        cond = cond & prev
    latest = a.rfm_group_last_changed.max().execute()
    start = pd.Timestamp(cursor).date() if cursor else (None if pd.isna(latest) else pd.Timestamp(latest).date())
    rows = a.filter(cond)
    if start is not None:
        rows = rows.filter(rows.rfm_group_last_changed >= ibis.literal(start, type="date"))
    rows = rows.select("profile_id", from_group=rows.previous_rfm_group, to_group=rows.current_rfm_group,
                       at=rows.rfm_group_last_changed)
    rows = _with_contacts(ws, _with_filter(ws, rows, trigger, library))
    df = rows.order_by(["at", "profile_id"]).execute()
    out = []
    for rec in df.to_dict("records"):
        at = None if pd.isna(rec["at"]) else pd.Timestamp(rec["at"]).date().isoformat()
        frm = _plain(rec["from_group"]) or "Never purchased"
        item = {**{f: _plain(rec.get(f)) for f in CONTACT_FIELDS}, "change": "rfm_group_changed",
                "from": frm, "to": rec["to_group"], "at": at}
        out.append((f"rfm|{rec['profile_id']}|{frm}|{rec['to_group']}|{at}", item))
    nxt = None if pd.isna(latest) else pd.Timestamp(latest).date().isoformat()
    return out, nxt or cursor


def metric_events(ws: Workspace, trigger: TriggerParams, cursor: str | None, first_day: pd.Timestamp,
                  library: Mapping | None = None) -> tuple[list[tuple[str, dict]], str]:
    """`(key, item)` pairs of a metric trigger: events of the metric not older than the cursor's bound."""
    state = json.loads(cursor) if cursor else {}
    since = _ts(trigger.since) if trigger.since is not None else _ts(state.get("since") or first_day)
    lower = since
    if state.get("max_ts"):
        lower = max(since, _ts(state["max_ts"]) - pd.Timedelta(days=trigger.late_days))
    ev = metrics.events_for(ws, trigger.metric)
    ev = ev.filter(ev.timestamp >= ibis.literal(lower))
    ev = _with_filter(ws, ev, trigger, library)
    p = ws.profiles.select(_pid="profile_id", email="email", external_id="external_id", phone="phone")
    joined = ev.left_join(p, ev.profile_id == p._pid).drop("_pid")
    df = joined.order_by(["timestamp", "event_id"]).execute()
    out = []
    max_ts = state.get("max_ts")
    event_cols = [c for c in ev.columns]
    for rec in df.to_dict("records"):
        event = {c: _plain(rec.get(c)) for c in event_cols}
        event = {k: v for k, v in event.items() if v is not None}
        item = {**{f: _plain(rec.get(f)) for f in CONTACT_FIELDS}, "change": "event", "event": event}
        out.append((f"event|{rec['event_id']}", item))
        ts = _iso(rec["timestamp"])
        if max_ts is None or _ts(ts) > _ts(max_ts):
            max_ts = ts
    return out, json.dumps({"since": since.isoformat(), "max_ts": max_ts})


def _plain(value: Any) -> Any:
    """JSON-friendly scalar: timestamps as ISO 8601, missing values as None."""
    if value is None:
        return None
    if isinstance(value, (pd.Timestamp,)) or hasattr(value, "isoformat"):
        return _iso(value) if not isinstance(value, str) else value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value
