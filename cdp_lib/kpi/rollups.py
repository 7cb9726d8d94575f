"""Daily roll-ups of the events, so the KPI app answers a date range without scanning events.

Every KPI is defined over whole UTC days (`Period`), so its figure for any range can be read
from per-day rows computed once, exactly:

* `kpi_metric_daily` (day, metric, events, value): any `events` / `value` / `average_value`
  KPI that only selects event names (no `where`, no `among`) is a sum over its days and metrics;
  the cards, their sparklines, the service-interaction breakdown and the AOV chart read it.
* `kpi_keyed_daily` (key, day, events, value): the same sums for a listed KPI with property
  filters or `attributed_value` (whether an event is attributed does not depend on the period:
  its touch must lie within `window` before the event itself).
* `kpi_person_days` (key, day, profile_id, among_day): one row per person and day with an event
  of a listed `profiles` KPI, with the day of the person's first `among` event; distinct people
  over a range are counted from these rows.
* `kpi_first_days` (key, profile_id, first_day): the day each person is first counted by a
  listed `total_profiles` KPI (their first event, or their first `among` event if later).
* `kpi_channel_daily` (key, day, channel, revenue, orders): email/SMS-attributed revenue per day
  under the default attribution windows (credit does not depend on the period either).

The roll-ups are built into an app snapshot when it is published (`rollup_build.build`, passed to
`cdp_lib.snapshots.publish` by `cdp publish`, `cdp app` and report runs) and carry a stamp: the
row counts of `events` and `merges` they were computed from (`events_summary.stamp`). A reader uses them only while the
stamp matches (`for_workspace`); any other workspace, or a KPI not listed at build time, is
computed from the events as before, with the same figures (tests/test_kpi_rollups.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib import events_summary

if TYPE_CHECKING:
    from cdp_lib.kpi.overview import Kpi, Period
    from cdp_lib.workspace import Workspace

METRIC_DAILY = "kpi_metric_daily"
KEYED_DAILY = "kpi_keyed_daily"
PERSON_DAYS = "kpi_person_days"
FIRST_DAYS = "kpi_first_days"
CHANNEL_DAILY = "kpi_channel_daily"
STAMP = "kpi_rollup_stamp"
KEYS = "kpi_rollup_keys"
TABLES = (METRIC_DAILY, KEYED_DAILY, PERSON_DAYS, FIRST_DAYS, CHANNEL_DAILY, KEYS, STAMP)
ADDITIVE = ("events", "value", "average_value", "attributed_value")
DEFAULT_CHANNELS = "default"  # the key of the channel roll-up: the default attribution windows


def key(kpi: "Kpi") -> str:
    """What the figures of `kpi` depend on (not its label or colour), as a short stable digest."""
    parts = (kpi.measure, kpi.metrics, kpi.where, kpi.touch_metric, kpi.touch_where, kpi.window,
             kpi.match_on, kpi.exclude_metrics, kpi.among)
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def by_metric(kpi: "Kpi") -> bool:
    """True when `kpi` is a sum over event names alone (read from `kpi_metric_daily`)."""
    return kpi.measure in ("events", "value", "average_value") and not kpi.where and not kpi.among


def _day(ts: ir.TimestampColumn) -> ir.DateColumn:
    return ts.truncate("D").date()


def _stamp(ws: "Workspace", tables: list[str] | None = None) -> tuple[int, int]:
    return events_summary.stamp(ws.duckdb, "merges" in (ws.table_names() if tables is None else tables))


class Rollups:
    """The roll-up tables of one workspace, with the KPI keys they hold."""

    def __init__(self, ws: "Workspace", keys: set[str], channel_keys: set[str]):
        self.ws = ws
        self.keys = keys
        self.channel_keys = channel_keys

    def covers(self, kpi: "Kpi") -> bool:
        if by_metric(kpi):
            return True
        if kpi.measure in ("profiles", "total_profiles"):
            return key(kpi) in self.keys
        return kpi.measure in ADDITIVE and not kpi.among and key(kpi) in self.keys

    def _additive(self, kpi: "Kpi") -> ir.Table:
        if by_metric(kpi):
            t = self.ws.con.table(METRIC_DAILY)
            if kpi.metrics:
                t = t.filter(t.metric.isin(list(kpi.metrics)))
            if kpi.exclude_metrics:
                t = t.filter(~t.metric.isin(list(kpi.exclude_metrics)))
            return t
        t = self.ws.con.table(KEYED_DAILY)
        return t.filter(t.key == key(kpi))

    def pair(self, kpi: "Kpi", period: "Period", prev: "Period") -> ir.Table:
        """One row (value, previous), as `overview._value_pair` computes it from the events."""
        def inside(col, p: "Period"):
            return (col >= p.start) & (col <= p.end)

        if kpi.measure == "total_profiles":
            t = self.ws.con.table(FIRST_DAYS)
            t = t.filter(t.key == key(kpi))
            return t.aggregate(value=(t.first_day <= period.end).sum().cast("float64"),
                               previous=(t.first_day <= prev.end).sum().cast("float64"))
        if kpi.measure == "profiles":
            t = self.ws.con.table(PERSON_DAYS)
            t = t.filter((t.key == key(kpi)) & (inside(t.day, period) | inside(t.day, prev)))
            cur, before = inside(t.day, period), inside(t.day, prev)
            if kpi.among:
                cur, before = cur & (t.among_day <= period.end), before & (t.among_day <= prev.end)
            return t.aggregate(value=t.profile_id.nunique(where=cur).cast("float64"),
                               previous=t.profile_id.nunique(where=before).cast("float64"))
        t = self._additive(kpi)
        t = t.filter(inside(t.day, period) | inside(t.day, prev))
        cur, before = inside(t.day, period), inside(t.day, prev)

        def agg(where):
            if kpi.measure == "events":
                return t.events.sum(where=where).cast("float64")
            if kpi.measure in ("value", "attributed_value"):
                return t.value.sum(where=where).cast("float64")
            return (t.value.sum(where=where) / t.events.sum(where=where).nullif(0)).cast("float64")

        return t.aggregate(value=agg(cur), previous=agg(before))

    def daily(self, kpi: "Kpi", period: "Period") -> ir.Table:
        """(period, value) per day, as `views.kpi_daily_table` computes it from the events."""
        if kpi.measure == "total_profiles":
            t = self.ws.con.table(FIRST_DAYS)
            t = t.filter(t.key == key(kpi))
            before = t.filter(t.first_day < period.start).count().as_scalar()
            new = t.filter((t.first_day >= period.start) & (t.first_day <= period.end))
            per = new.group_by(period="first_day").agg(_n=new.count())
            w = ibis.window(order_by="period", rows=(None, 0))
            return per.select("period", value=(per._n.sum().over(w) + before).cast("float64")).order_by("period")
        if kpi.measure == "profiles":
            t = self.ws.con.table(PERSON_DAYS)
            t = t.filter((t.key == key(kpi)) & (t.day >= period.start) & (t.day <= period.end))
            if kpi.among:
                t = t.filter(t.among_day <= t.day)
            return t.group_by(period="day").agg(value=t.count().cast("float64")).order_by("period")
        t = self._additive(kpi)
        t = t.filter((t.day >= period.start) & (t.day <= period.end))
        return self._measure(t.group_by(period="day"), t, kpi.measure).order_by("period")

    def series(self, kpi: "Kpi", period: "Period", unit: str) -> ir.Table:
        """(period, value) per day/week/month for a `by_metric` KPI, as `kpi_series`."""
        t = self._additive(kpi)
        t = t.filter((t.day >= period.start) & (t.day <= period.end))
        t = t.mutate(_p=t.day if unit == "D" else t.day.truncate(unit))
        return self._measure(t.group_by(period="_p"), t, kpi.measure).order_by("period")

    @staticmethod
    def _measure(grouped, t: ir.Table, measure: str) -> ir.Table:
        value = {"events": t.events.sum().cast("float64"),
                 "value": t.value.sum(),
                 "attributed_value": t.value.sum(),
                 "average_value": t.value.sum() / t.events.sum()}[measure]
        return grouped.agg(value=value)

    def last_day(self) -> dt.date | None:
        """The UTC day of the newest event (as `latest_event_day` reads it from the events)."""
        last = self.ws.con.table(METRIC_DAILY).day.max().execute()
        return None if last is None or last != last else pd.Timestamp(last).date()

    def channels(self, period: "Period") -> ir.Table:
        """(period, channel, revenue, orders) of `views.channel_revenue_table` with default windows."""
        t = self.ws.con.table(CHANNEL_DAILY)
        t = t.filter((t.key == DEFAULT_CHANNELS) & (t.day >= period.start) & (t.day <= period.end))
        return t.select(period="day", channel="channel", revenue="revenue", orders="orders").order_by(
            ["channel", "period"])


def for_workspace(ws: "Workspace") -> Rollups | None:
    """The workspace's roll-ups when present and built from its current events, else None.

    A read-only workspace (an app snapshot) cannot change, so its answer is kept on it."""
    cached = getattr(ws, "_kpi_rollups", False)
    if cached is not False:
        return cached
    found = None
    tables = ws.table_names() if ws.is_duckdb else []
    if STAMP in tables:
        stamp = ws.con.table(STAMP).execute()
        if len(stamp) == 1 and (int(stamp["events_rows"][0]), int(stamp["merges_rows"][0])) == _stamp(ws, tables):
            keys = set(ws.con.table(KEYS).execute()["key"])
            channel_keys = set(ws.con.table(CHANNEL_DAILY).select("key").distinct().execute()["key"])
            found = Rollups(ws, keys, channel_keys)
    if ws.read_only:
        ws._kpi_rollups = found
    return found
