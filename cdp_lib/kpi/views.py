"""What the KPI app shows beside the overview: each KPI per day (the cards' sparklines) and the
revenue attributed to email and SMS.

Attributed revenue is the audience-performance rule (`cdp_lib.audience`): an order (`Placed
Order`) at time tc is credited to the most recent email/SMS interaction at ti of the same person
with ti <= tc <= ti + that interaction's window (email open 5 d, email click 5 d, SMS click 5 d,
SMS open 1 d, SMS delivery 12 h; ties at the same ti go to the larger event_id). An order counts
in the period it was placed in, whenever its interaction happened; it is credited to one channel
at most, so email + SMS never exceeds the revenue.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.audience import attributed_conversions_table, audience_params
from cdp_lib.kpi import rollups as kpi_rollups
from cdp_lib.kpi.overview import Kpi, Period, _attributed, _events, among_since
from cdp_lib.workspace import Workspace

CHANNEL_LABELS = {"email": "Email-attributed revenue", "sms": "SMS-attributed revenue"}


def _day(ts: ir.TimestampColumn) -> ir.DateColumn:
    return ts.truncate("D").date()


def kpi_daily_table(ws: Workspace, kpi: Kpi, period: Period) -> ir.Table:
    """`kpi` per day of `period`: columns `period` (DATE) and `value`, the same measure as the
    overview's but over that one day (days without events are absent, except for
    `total_profiles`, a running count present on every day with a new person).

    `total_profiles` counts people whose first event is on or before the day; `among` limits a
    day to people whose first `among` event is on or before it.
    """
    daily = kpi_rollups.for_workspace(ws)
    if daily and daily.covers(kpi):
        return daily.daily(kpi, period)
    lo, hi = period.lo, period.hi
    if kpi.measure == "attributed_value":
        ev = _attributed(ws, kpi, lo, hi)
    else:
        ev = _events(ws, kpi)
        ev = ev.filter(ev.timestamp < hi) if kpi.measure == "total_profiles" else ev.filter(
            (ev.timestamp >= lo) & (ev.timestamp < hi))
    if kpi.measure == "total_profiles":
        first = first_counted(ws, kpi, ev)
        before = first.filter(first._first < lo).count().as_scalar()
        new = first.filter((first._first >= lo) & (first._first < hi))
        per = new.group_by(period=_day(new._first)).agg(_n=new.count())
        w = ibis.window(order_by="period", rows=(None, 0))
        return per.select("period", value=(per._n.sum().over(w) + before).cast("float64")).order_by("period")
    if kpi.among:
        a = among_since(ws, kpi)
        ev = ev.inner_join(a, ev.profile_id == a._aid)
        ev = ev.filter(_day(ev._since) <= _day(ev.timestamp))
    ev = ev.mutate(period=_day(ev.timestamp), _v=ev.value.cast("float64"))
    measure = {
        "events": ev.count().cast("float64"),
        "profiles": ev.profile_id.nunique().cast("float64"),
        "value": ev._v.sum(),
        "attributed_value": ev._v.sum(),
        "average_value": ev._v.sum() / ev.count(),
    }[kpi.measure]
    return ev.group_by("period").agg(value=measure).order_by("period")


def first_counted(ws: Workspace, kpi: Kpi, ev: ir.Table) -> ir.Table:
    """Per person of `ev` (events of a `total_profiles` KPI): `profile_id`, `_first`, the moment
    they are first counted: their first event, or with `among` their first `among` event if later
    (people without one are left out)."""
    first = ev.group_by("profile_id").agg(_first=ev.timestamp.min())
    if kpi.among:
        a = among_since(ws, kpi)
        first = first.inner_join(a, first.profile_id == a._aid)
        first = first.mutate(_first=ibis.greatest(first._first, first._since))
    return first.select("profile_id", "_first")


def kpi_sparklines(ws: Workspace, period: Period, kpis: Sequence[Kpi]) -> dict[str, pd.DataFrame]:
    """Label -> `kpi_daily_table` frame for each KPI, computed in one query."""
    if not kpis:
        return {}
    parts = [kpi_daily_table(ws, k, period).mutate(_pos=ibis.literal(i)) for i, k in enumerate(kpis)]
    df = (parts[0] if len(parts) == 1 else ibis.union(*parts)).execute()
    return {k.label: df[df["_pos"] == i].drop(columns="_pos").sort_values("period").reset_index(drop=True)
            for i, k in enumerate(kpis)}


def _conversions(ws: Workspace, period: Period, windows=None) -> ir.Table:
    base = audience_params(windows=windows)  # default windows, merged with `windows`
    return attributed_conversions_table(ws, dataclasses.replace(base, start=period.start, end=period.end))


def channel_revenue_table(ws: Workspace, period: Period, windows=None, use_rollups: bool = True) -> ir.Table:
    """Per channel (`email`, `sms`) and day: `period` (DATE), `channel`, `revenue`, `orders` of the
    orders placed in `period` that are credited to that channel (rule in the module docstring).

    With the default windows, read from the snapshot's daily roll-up when it has one
    (`cdp_lib.kpi.rollups`; `use_rollups=False` computes from the events)."""
    daily = kpi_rollups.for_workspace(ws) if use_rollups and windows is None else None
    if daily and kpi_rollups.DEFAULT_CHANNELS in daily.channel_keys:
        return daily.channels(period)
    conv = _conversions(ws, period, windows)
    conv = conv.filter(conv.channel.notnull())
    return conv.group_by(period=_day(conv.timestamp), channel=conv.channel).agg(
        revenue=conv.value.cast("float64").sum(), orders=conv.count()).order_by(["channel", "period"])


def channel_revenue_overview(ws: Workspace, period: Period, compared: Period, windows=None
                             ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Email- and SMS-attributed revenue in `period` and `compared`: an overview frame shaped like
    `kpi_overview` (metric, value, previous, change_pct, direction, good) and each channel's
    daily revenue in `period` (for sparklines)."""
    now = channel_revenue_table(ws, period, windows).execute()
    before = channel_revenue_table(ws, compared, windows).execute()
    rows, daily = [], {}
    for channel, label in CHANNEL_LABELS.items():
        v = float(now.loc[now["channel"] == channel, "revenue"].sum())
        p = float(before.loc[before["channel"] == channel, "revenue"].sum())
        change = None if p == 0 else round((v - p) / p * 100, 1)
        direction = "flat" if v == p else ("up" if v > p else "down")
        rows.append((label, v, p, change, direction, None if direction == "flat" else direction == "up"))
        daily[label] = now.loc[now["channel"] == channel, ["period", "revenue"]].rename(
            columns={"revenue": "value"}).reset_index(drop=True)
    out = pd.DataFrame(rows, columns=["metric", "value", "previous", "change_pct", "direction", "good"])
    out["change_pct"] = out["change_pct"].astype("float64")
    return out, daily

