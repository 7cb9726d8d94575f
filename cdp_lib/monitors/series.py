"""Daily series behind monitors: one row per UTC day, computed in the engine, small at the edge.

* metric: `count` = events of the metric that day, `value` = sum of their `value` (missing as 0);
  a custom metric (parameters/metrics/) selects its events as everywhere else.
* segment: from the stored membership history (`segment_membership`, backfilled rows included):
  `members` = people whose spell covers the end of the day (joined_at before the next midnight,
  left_at null or at/after it), `added` = spells opened that day, `removed` = spells closed.
* flow: message events whose `flow_id` is the flow: `delivered` (Received Email + Received SMS),
  `opens`, `clicks`, `bounces` (Bounced Email), `unsubscribes`, `sent` = delivered + bounces,
  and `conversions` = conversions on that day whose last-touch credit (audience performance
  rules, cdp_lib/audience.py) goes to one of the flow's messages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import ibis
import pandas as pd

from cdp_lib.audience import attributed_conversions_table, audience_params
from cdp_lib.errors import InputError
from cdp_lib.metrics import events_for, resolve_metric
from cdp_lib.monitors.definition import MonitorDefinition, suggest
from cdp_lib.workspace import Workspace

FLOW_METRICS = {
    "delivered": ("Received Email", "Received SMS"),
    "opens": ("Opened Email", "Opened SMS"),
    "clicks": ("Clicked Email", "Clicked SMS"),
    "bounces": ("Bounced Email",),
    "unsubscribes": ("Unsubscribed", "Unsubscribed from Email", "Unsubscribed from SMS"),
}
# rate -> (numerator, denominator) columns of the flow series
RATES = {
    "open_rate": ("opens", "delivered"),
    "click_rate": ("clicks", "delivered"),
    "bounce_rate": ("bounces", "sent"),
    "unsubscribe_rate": ("unsubscribes", "delivered"),
    "conversion_rate": ("conversions", "delivered"),
}
COLUMNS = {
    "metric": ("count", "value"),
    "segment": ("members", "added", "removed"),
    "flow": ("delivered", "opens", "clicks", "bounces", "unsubscribes", "sent", "conversions"),
}


def _moment(day: dt.date) -> ibis.Scalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day), timezone="UTC")


def _calendar(first: dt.date, last: dt.date, kind: str) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D").date
    return pd.DataFrame(0.0, index=pd.Index(days, name="day"), columns=list(COLUMNS[kind]))


def _fill(frame: pd.DataFrame, per_day: pd.DataFrame) -> pd.DataFrame:
    if not per_day.empty:
        per_day = per_day.assign(day=pd.to_datetime(per_day["day"]).dt.date).set_index("day").fillna(0)
        for col in per_day.columns:
            frame.loc[per_day.index, col] = per_day[col].astype("float64").to_numpy()
    return frame


def metric_series(ws: Workspace, metric: str, first: dt.date, last: dt.date, metrics=None) -> pd.DataFrame:
    ev = events_for(ws, metric, metrics)
    ev = ev.filter((ev.timestamp >= _moment(first)) & (ev.timestamp < _moment(last + dt.timedelta(days=1))))
    per = ev.group_by(day=ev.timestamp.date()).aggregate(count=ev.count(), value=ev.value.fill_null(0.0).sum())
    return _fill(_calendar(first, last, "metric"), per.execute())


def segment_series(ws: Workspace, segment: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    if not ws.has_table("segment_membership"):
        raise InputError(f"segment monitor on {segment!r} needs stored membership history; run 'cdp segment refresh' first")
    m = ws.table("segment_membership")
    m = m.filter(m.segment == segment)
    lo, hi = _moment(first), _moment(last + dt.timedelta(days=1))
    before = m.aggregate(j=(m.joined_at < lo).fill_null(False).sum(), l=(m.left_at < lo).fill_null(False).sum(),
                         n=m.count()).execute().iloc[0]
    if int(before["n"]) == 0:
        known = []
        if ws.has_table("segment_refreshes"):
            r = ws.table("segment_refreshes")
            known = sorted(r.select("segment").distinct().segment.execute())
        if segment not in known:
            raise InputError(f"segment {segment!r} has no stored membership history{suggest(segment, known)}; "
                             "run 'cdp segment refresh' (or check the name)")
    joins = m.filter((m.joined_at >= lo) & (m.joined_at < hi))
    joins = joins.group_by(day=joins.joined_at.date()).aggregate(added=joins.count()).execute()
    leaves = m.filter((m.left_at >= lo) & (m.left_at < hi))
    leaves = leaves.group_by(day=leaves.left_at.date()).aggregate(removed=leaves.count()).execute()
    frame = _calendar(first, last, "segment")
    frame = _fill(frame, joins)
    frame = _fill(frame, leaves)
    base = float(before["j"] or 0) - float(before["l"] or 0)
    frame["members"] = base + frame["added"].cumsum() - frame["removed"].cumsum()
    return frame


def flow_series(ws: Workspace, flow_id: str, first: dt.date, last: dt.date, metrics=None) -> pd.DataFrame:
    ev = ws.events
    lo, hi = _moment(first), _moment(last + dt.timedelta(days=1))
    names = {name: col for col, group in FLOW_METRICS.items() for name in group}
    msgs = ev.filter((ev.flow_id == flow_id) & ev.metric.isin(list(names)) & (ev.timestamp >= lo) & (ev.timestamp < hi))
    per = msgs.group_by(day=msgs.timestamp.date(), metric=msgs.metric).aggregate(n=msgs.count()).execute()
    frame = _calendar(first, last, "flow")
    if per.empty:
        flows = ev.filter(ev.flow_id.notnull()).select("flow_id").distinct().limit(1000).flow_id.execute()
        if flow_id not in set(flows):
            raise InputError(f"flow {flow_id!r} has no message events (events with flow_id){suggest(flow_id, list(flows))}")
    else:
        per["col"] = per["metric"].map(names)
        wide = per.pivot_table(index="day", columns="col", values="n", aggfunc="sum").reset_index()
        frame = _fill(frame, wide)
    params = dataclasses.replace(audience_params(period="custom", from_=first, to=first), start=first, end=last)
    try:
        resolve_metric(ws, params.conversion_metric, metrics)
    except InputError:  # a store without orders: nothing to attribute
        frame["sent"] = frame["delivered"] + frame["bounces"]
        return frame
    conv = attributed_conversions_table(ws, params, metrics)
    touched = ev.select(_tid=ev.event_id, _flow=ev.flow_id)
    conv = conv.join(touched, conv.touch_id == touched._tid)
    conv = conv.filter(conv._flow == flow_id)
    per_conv = conv.group_by(day=conv.timestamp.date()).aggregate(conversions=conv.count()).execute()
    frame = _fill(frame, per_conv)
    frame["sent"] = frame["delivered"] + frame["bounces"]
    return frame


def daily_series(ws: Workspace, monitor: MonitorDefinition, first: dt.date, last: dt.date, metrics=None) -> pd.DataFrame:
    """The monitor's daily inputs from `first` to `last` (both included), indexed by `day`."""
    if monitor.kind == "metric":
        return metric_series(ws, monitor.target, first, last, metrics)
    if monitor.kind == "segment":
        return segment_series(ws, monitor.target, first, last)
    return flow_series(ws, monitor.target, first, last, metrics)
