"""Building the KPI roll-ups (`cdp_lib.kpi.rollups` describes them) into an app snapshot.

`build` is what `cdp_lib.snapshots.publish(prepare=...)` runs on a new copy: one pass of group-bys
over the events per table, written with Ibis.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Sequence

import ibis
import pandas as pd

from cdp_lib.kpi.overview import ACCOUNT_DASHBOARD, Kpi, Period, _attributed, _events, among_since
from cdp_lib.kpi.rollups import (ADDITIVE, CHANNEL_DAILY, DEFAULT_CHANNELS, FIRST_DAYS, KEYED_DAILY, KEYS, METRIC_DAILY,
                                 PERSON_DAYS, STAMP, TABLES, _day, _stamp, by_metric, key)
from cdp_lib.kpi.views import channel_revenue_table, first_counted

if TYPE_CHECKING:
    from cdp_lib.workspace import Workspace


def build(ws: "Workspace", kpis: Sequence[Kpi] | None = None) -> dict:
    """Compute the roll-ups into a writable DuckDB workspace (an app snapshot being published).

    `kpis` are the KPIs that get keyed tables (default: the account dashboard); every KPI that
    only selects event names is covered by `kpi_metric_daily` anyway. Returns row counts.
    """
    kpis = ACCOUNT_DASHBOARD if kpis is None else tuple(kpis)
    con, ev = ws.con, ws.events
    dated = ev.filter(ev.timestamp.notnull())
    con.create_table(METRIC_DAILY, dated.group_by(day=_day(dated.timestamp), metric=dated.metric).agg(
        events=dated.count(), value=dated.value.cast("float64").sum()).order_by(["day", "metric"]), overwrite=True)
    first, last = dated.aggregate(lo=dated.timestamp.min(), hi=dated.timestamp.max()).execute().iloc[0]
    span = None
    if pd.notna(first):
        span = Period(first.date(), last.date())
    keyed, people, firsts, keys = [], [], [], []
    for kpi in kpis:
        if by_metric(kpi) or (kpi.measure in ADDITIVE and kpi.among) or span is None:
            continue
        k = ibis.literal(key(kpi))
        keys.append(key(kpi))
        if kpi.measure in ADDITIVE:
            e = _attributed(ws, kpi, span.lo, span.hi) if kpi.measure == "attributed_value" else _events(ws, kpi)
            e = e.filter(e.timestamp.notnull())
            keyed.append(e.group_by(day=_day(e.timestamp)).agg(events=e.count(), value=e.value.cast("float64").sum())
                         .mutate(key=k))
            continue
        e = _events(ws, kpi)
        e = e.filter(e.timestamp.notnull())
        if kpi.measure == "total_profiles":
            f = first_counted(ws, kpi, e)
            firsts.append(f.select(key=k, profile_id="profile_id", first_day=_day(f._first)))
            continue
        pd_ = e.select("profile_id", day=_day(e.timestamp)).distinct()
        if kpi.among:
            a = among_since(ws, kpi)
            pd_ = pd_.inner_join(a, pd_.profile_id == a._aid).select("profile_id", "day", among_day=_day(a._since))
        else:
            pd_ = pd_.mutate(among_day=ibis.null("date"))
        people.append(pd_.select(key=k, day="day", profile_id="profile_id", among_day="among_day"))

    def store(name: str, parts: list, schema: dict) -> None:
        if parts:
            expr = parts[0] if len(parts) == 1 else ibis.union(*parts)
            con.create_table(name, expr.select(*schema).order_by(["key", *[c for c in ("day",) if c in schema]]),
                             overwrite=True)
        else:
            con.create_table(name, schema=ibis.schema(schema), overwrite=True)

    store(KEYED_DAILY, keyed, {"key": "string", "day": "date", "events": "int64", "value": "float64"})
    store(PERSON_DAYS, people, {"key": "string", "day": "date", "profile_id": "string", "among_day": "date"})
    store(FIRST_DAYS, firsts, {"key": "string", "profile_id": "string", "first_day": "date"})
    channels = []
    if span is not None and "Placed Order" in set(con.table(METRIC_DAILY).metric.execute()):
        c = channel_revenue_table(ws, span, use_rollups=False)
        channels.append(c.select(key=ibis.literal(DEFAULT_CHANNELS), day="period", channel="channel",
                                 revenue="revenue", orders="orders"))
    store(CHANNEL_DAILY, channels, {"key": "string", "day": "date", "channel": "string", "revenue": "float64",
                                    "orders": "int64"})
    con.create_table(KEYS, ibis.memtable(pd.DataFrame({"key": keys}), schema={"key": "string"}), overwrite=True)
    events_rows, merges_rows = _stamp(ws)
    con.create_table(STAMP, pd.DataFrame({"events_rows": [events_rows], "merges_rows": [merges_rows],
                                          "built_at": [dt.datetime.now(dt.timezone.utc)]}), overwrite=True)
    return {name: int(con.table(name).count().execute()) for name in TABLES}
