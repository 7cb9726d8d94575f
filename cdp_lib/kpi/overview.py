"""KPI overview: metrics for a date range next to the equal-length period just before it.

A KPI is plain data (`Kpi`): a label, a measure and the events it reads. `kpi_table` turns a
list of KPIs into one Ibis table (one row per KPI) computed in a single query; `kpi_overview`
executes it. The default list, `ACCOUNT_DASHBOARD`, is the customer-account dashboard of the
seed documents; any other list of `Kpi` works the same way.

Periods are whole UTC days, both ends included: `start=2025-03-08, end=2025-03-14` covers
7 days and is compared with 2025-03-01..2025-03-07.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib import schema
from cdp_lib.dates import parse_date, today
from cdp_lib.durations import parse_duration
from cdp_lib.errors import InputError
from cdp_lib.filters import validate_filter, where_expr
from cdp_lib.kpi import rollups
from cdp_lib.params import Params, renamed_keyword
from cdp_lib.periods import comparison_period
from cdp_lib.workspace import Workspace

MEASURES = {
    "events": "number of events",
    "profiles": "distinct people with an event in the period",
    "total_profiles": "distinct people with an event on or before the period's last day",
    "value": "sum of the events' value",
    "average_value": "sum of value / number of events (e.g. average order value)",
    "attributed_value": "value of events preceded by a touch event of the same person "
    "(and same `match_on` columns) within `window`",
}

CREATED_ACCOUNT = "Created Account"
ADDED_TO_CART = "Added to Cart"
SERVICE_INTERACTIONS = ("Tracked Order", "Started Return", "Applied Coupon", "Clicked Help", "Started Web Chat")
ACCOUNT_PAGE_SOURCE = "account page"
# Things that happen to a person rather than things they do: not a sign of activity.
PASSIVE_METRICS = ("Received Email", "Received SMS", "Bounced Email")


@dataclass(frozen=True)
class Kpi:
    """One headline metric.

    Parameters
    ----------
    label
        Name shown in tables and apps (the `metric` column of the overview).
    measure
        One of `MEASURES`.
    metrics
        Event names read; empty means every event.
    where
        Property filters on those events (`cdp_lib.filters` syntax).
    touch_metric, touch_where, window, match_on
        For `attributed_value` only: an event of `metrics` counts when the same person had a
        `touch_metric` event (matching `touch_where`, equal on the `match_on` columns) at most
        `window` before it (inclusive) or at the same time.
    higher_is_better
        Whether a rise is good news (green) or bad news (red) in apps.
    exclude_metrics
        Event names left out (with empty `metrics`: every event but these).
    among
        Count only people who had an event of this metric on or before the last day of the
        period being measured (e.g. account holders: `Created Account`).
    """

    label: str
    measure: str
    metrics: tuple[str, ...] = ()
    where: tuple[dict, ...] = ()
    touch_metric: str | None = None
    touch_where: tuple[dict, ...] = ()
    window: str = "7d"
    match_on: tuple[str, ...] = ()
    higher_is_better: bool = True
    exclude_metrics: tuple[str, ...] = ()
    among: str | None = None

    def __post_init__(self):
        where = f"KPI {self.label!r}"
        if self.measure not in MEASURES:
            raise InputError(f"{where}: unknown measure {self.measure!r}; expected one of {sorted(MEASURES)}")
        if isinstance(self.metrics, str):
            raise InputError(f"{where}: metrics must be a list of event names, got the text {self.metrics!r}")
        for i, spec in enumerate(self.where):
            validate_filter(spec, f"{where}.where[{i}]")
        if self.measure == "attributed_value":
            if not self.touch_metric:
                raise InputError(f"{where}: measure 'attributed_value' needs touch_metric")
            parse_duration(self.window, f"{where}.window")
            for i, spec in enumerate(self.touch_where):
                validate_filter(spec, f"{where}.touch_where[{i}]")


PLACED_ORDER_AOV = Kpi("Average order value", "average_value", (schema.PLACED_ORDER,))

ACCOUNT_DASHBOARD: tuple[Kpi, ...] = (
    Kpi("Total accounts", "total_profiles", (CREATED_ACCOUNT,)),
    Kpi("New accounts", "profiles", (CREATED_ACCOUNT,)),
    Kpi("Active accounts", "profiles", exclude_metrics=PASSIVE_METRICS, among=CREATED_ACCOUNT),
    Kpi("Service interactions", "events", SERVICE_INTERACTIONS, higher_is_better=False),
    Kpi(
        "Revenue from account-page adds",
        "attributed_value",
        (schema.ORDERED_PRODUCT,),
        touch_metric=ADDED_TO_CART,
        touch_where=({"property": "source", "op": "equals", "value": ACCOUNT_PAGE_SOURCE},),
        window="7d",
        match_on=("product_id",),
    ),
    Kpi("Revenue", "value", (schema.PLACED_ORDER,)),
    Kpi("Orders", "events", (schema.PLACED_ORDER,)),
    PLACED_ORDER_AOV,
)


@dataclass(frozen=True)
class Period:
    """A range of whole UTC days `[start, end]` and the equal-length period just before it."""

    start: dt.date
    end: dt.date
    days: int = field(init=False)

    def __post_init__(self):
        if self.end < self.start:
            raise InputError(f"period end {self.end} is before its start {self.start}; swap them")
        object.__setattr__(self, "days", (self.end - self.start).days + 1)

    @classmethod
    def parse(cls, start: Any, end: Any) -> "Period":
        def day(v: Any, name: str) -> dt.date:
            found = parse_date(v, name)
            if found is None:
                raise InputError(f"{name}: a date is required (YYYY-MM-DD)")
            return found

        return cls(day(start, "start"), day(end, "end"))

    @property
    def lo(self) -> pd.Timestamp:
        """First moment of the period (UTC)."""
        return pd.Timestamp(self.start, tz="UTC")

    @property
    def hi(self) -> pd.Timestamp:
        """First moment after the period (UTC, exclusive)."""
        return pd.Timestamp(self.end, tz="UTC") + pd.Timedelta(days=1)

    @property
    def previous(self) -> "Period":
        return Period(self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1))

    def compared(self, comparison: str = "previous") -> "Period":
        """The comparison period: `previous` (the equal-length period just before) or `last_year`
        (the same days a year earlier; `cdp_lib.periods`)."""
        return Period(*comparison_period(self.start, self.end, comparison))


def latest_event_day(ws: Workspace) -> dt.date:
    """The UTC day of the newest event, never after today (UTC): an event stamped in the future
    does not move the default period past the as-of rule's "now" (`cdp_lib.dates`)."""
    ws_today = today()
    daily = rollups.for_workspace(ws)
    if daily is not None:
        last = daily.last_day()
        return ws_today if last is None else min(last, ws_today)
    last = ws.events.timestamp.max().execute()
    return ws_today if last is None or pd.isna(last) else min(pd.Timestamp(last).date(), ws_today)


@dataclass(frozen=True)
class KpiParams(Params):
    """The KPI overview's range, validated before a workspace is opened: `from_`/`to` (YAML
    `from`/`to`; the old `start`/`end` still work and warn). None: see `kpi_period`."""

    ALIASES: ClassVar[Mapping[str, str]] = {"start": "from_", "end": "to"}
    WHERE: ClassVar[str] = "KPI parameters"

    from_: dt.date | None = None
    to: dt.date | None = None

    def __post_init__(self):
        first, last = parse_date(self.from_, "from"), parse_date(self.to, "to")
        if first and last and first > last:
            raise InputError(f"from {first} is after to {last}; swap them")
        object.__setattr__(self, "from_", first)
        object.__setattr__(self, "to", last)


def kpi_period(ws: Workspace, from_: Any = None, to: Any = None, default_days: int = 30, *,
               start: Any = None, end: Any = None) -> Period:
    """The period to report: `to` defaults to the newest event's day, `from_` to `default_days`
    days ending on `to`. `start`/`end` are their old names (accepted with a warning)."""
    from_ = renamed_keyword("from_", "start", from_, start)
    to = renamed_keyword("to", "end", to, end)
    end_day = latest_event_day(ws) if to is None else Period.parse(to, to).end
    start_day = end_day - dt.timedelta(days=default_days - 1) if from_ is None else from_
    return Period.parse(start_day, end_day)


def _events(ws: Workspace, kpi: Kpi) -> ir.Table:
    ev = ws.events
    if kpi.metrics:
        ev = ev.filter(ev.metric.isin(list(kpi.metrics)))
    if kpi.exclude_metrics:
        ev = ev.filter(~ev.metric.isin(list(kpi.exclude_metrics)))
    if kpi.where:
        ev = ev.filter(where_expr(ev, list(kpi.where), f"KPI {kpi.label!r}.where"))
    return ev


def among_since(ws: Workspace, kpi: Kpi) -> ir.Table:
    """Per person with a `kpi.among` event: `_aid` (profile id) and `_since`, their first one."""
    a = ws.events.filter(ws.events.metric == kpi.among)
    return a.group_by(_aid=a.profile_id).agg(_since=a.timestamp.min())


def _attributed(ws: Workspace, kpi: Kpi, lo: pd.Timestamp, hi: pd.Timestamp) -> ir.Table:
    """Events of `kpi.metrics` in [lo, hi) preceded by a qualifying touch (each counted once)."""
    ev = _events(ws, kpi)
    ev = ev.filter((ev.timestamp >= lo) & (ev.timestamp < hi))
    window = parse_duration(kpi.window)
    touches = ws.events.filter(ws.events.metric == kpi.touch_metric)
    if kpi.touch_where:
        touches = touches.filter(where_expr(touches, list(kpi.touch_where), f"KPI {kpi.label!r}.touch_where"))
    touches = touches.filter((touches.timestamp >= lo - window) & (touches.timestamp < hi))
    touches = touches.select("profile_id", *kpi.match_on, touch_time=touches.timestamp)
    preds = [ev.profile_id == touches.profile_id]
    preds += [ev[c] == touches[c] for c in kpi.match_on]
    preds += [touches.touch_time <= ev.timestamp, touches.touch_time >= ev.timestamp - window]
    return ev.semi_join(touches, preds)


def _value_pair(ws: Workspace, kpi: Kpi, period: Period, prev: Period | None = None) -> ir.Table:
    """One row: (value, previous) of `kpi` over `period` and `prev` (default: the period before it)."""
    prev = prev or period.previous
    adjacent = prev.hi == period.lo  # else (a year earlier) read the two periods, not the months between
    if kpi.measure == "attributed_value":
        ev = _attributed(ws, kpi, prev.lo, period.hi) if adjacent else _attributed(ws, kpi, prev.lo, prev.hi).union(
            _attributed(ws, kpi, period.lo, period.hi))
    else:
        ev = _events(ws, kpi)
        if kpi.measure == "total_profiles":
            ev = ev.filter(ev.timestamp < period.hi)
        elif adjacent:
            ev = ev.filter((ev.timestamp >= prev.lo) & (ev.timestamp < period.hi))
        else:
            ev = ev.filter(((ev.timestamp >= prev.lo) & (ev.timestamp < prev.hi))
                           | ((ev.timestamp >= period.lo) & (ev.timestamp < period.hi)))
    if kpi.among:
        first = among_since(ws, kpi)
        ev = ev.inner_join(first, ev.profile_id == first._aid)
    cur = ev.timestamp >= period.lo
    before = ev.timestamp < prev.hi
    if kpi.measure == "total_profiles":
        cur = ev.timestamp < period.hi
        before = ev.timestamp < prev.hi
    else:
        before = before & (ev.timestamp >= prev.lo)
    if kpi.among:
        cur = cur & (ev._since < period.hi)
        before = before & (ev._since < prev.hi)
    val = ev.value.cast("float64")

    def aggs(inside: ir.BooleanColumn) -> ir.Scalar:
        if kpi.measure == "events":
            return inside.sum().cast("float64")
        if kpi.measure in {"profiles", "total_profiles"}:
            return ev.profile_id.nunique(where=inside).cast("float64")
        if kpi.measure in {"value", "attributed_value"}:
            return val.sum(where=inside).cast("float64")
        # average_value: null when there are no events
        return (val.sum(where=inside) / inside.sum().nullif(0)).cast("float64")

    return ev.aggregate(value=aggs(cur), previous=aggs(before))


def _with_change(t: ir.Table) -> ir.Table:
    # Empty sums are null: a KPI without events is 0 (an average stays null: undefined).
    change = ((t.value - t.previous) / t.previous.nullif(0) * 100).round(1)
    return t.mutate(change_pct=change)


def kpi_table(ws: Workspace, start: Any, end: Any, kpis: Sequence[Kpi] = ACCOUNT_DASHBOARD,
              comparison: str = "previous") -> ir.Table:
    """One row per KPI: `metric` (its label), `value`, `previous`, `change_pct`, `position`.

    `previous` is the same KPI over the comparison period of `[start, end]`: by default the
    equal-length period just before it, with `comparison="last_year"` the same days a year
    earlier (`Period.compared`); `change_pct` is (value - previous) / previous x 100, rounded to
    0.1, null when previous is 0 or undefined.
    """
    period = Period.parse(start, end)
    prev = period.compared(comparison)
    if not kpis:
        raise InputError("kpis: give at least one KPI")
    daily = rollups.for_workspace(ws)  # daily roll-ups of an app snapshot, when it has them
    rows = []
    for i, kpi in enumerate(kpis):
        pair = daily.pair(kpi, period, prev) if daily and daily.covers(kpi) else _value_pair(ws, kpi, period, prev)
        zero = 0.0 if kpi.measure != "average_value" else None
        pair = pair.mutate(
            value=pair.value.fill_null(zero) if zero is not None else pair.value,
            previous=pair.previous.fill_null(zero) if zero is not None else pair.previous,
        )
        rows.append(pair.mutate(metric=ibis.literal(kpi.label), position=ibis.literal(i)))
    out = rows[0] if len(rows) == 1 else ibis.union(*rows)
    return _with_change(out.select("position", "metric", "value", "previous"))


def kpi_overview(ws: Workspace, start: Any, end: Any, kpis: Sequence[Kpi] = ACCOUNT_DASHBOARD,
                 comparison: str = "previous") -> pd.DataFrame:
    """`kpi_table` executed: columns metric, value, previous, change_pct, direction, good.

    `direction` is 'up', 'down' or 'flat' (no previous value); `good` says whether the change
    is good news given each KPI's `higher_is_better` (None when flat).

    Examples
    --------
    >>> kpi_overview(ws, "2025-03-08", "2025-03-14")  # doctest: +SKIP
    """
    df = kpi_table(ws, start, end, kpis, comparison).execute().sort_values("position").reset_index(drop=True)
    better = [k.higher_is_better for k in kpis]
    df["direction"] = [
        "flat" if pd.isna(v) or pd.isna(p) or v == p else ("up" if v > p else "down")
        for v, p in zip(df["value"], df["previous"])
    ]
    df["good"] = [
        None if d == "flat" else (d == "up") == b for d, b in zip(df["direction"], better)
    ]
    df["change_pct"] = df["change_pct"].astype("float64")
    return df.drop(columns="position")


def kpi_breakdown(ws: Workspace, start: Any, end: Any, kpi: Kpi | None = None,
                  comparison: str = "previous") -> pd.DataFrame:
    """A KPI split by event name (default: service interactions): metric, value, previous, change_pct.

    Every metric the KPI lists gets a row, with 0 when it has no events.
    """
    kpi = kpi or next(k for k in ACCOUNT_DASHBOARD if k.label == "Service interactions")
    if not kpi.metrics:
        raise InputError(f"KPI {kpi.label!r} lists no metrics to break down by")
    parts = [
        Kpi(m, kpi.measure, (m,), kpi.where, kpi.touch_metric, kpi.touch_where, kpi.window, kpi.match_on,
            kpi.higher_is_better)
        for m in kpi.metrics
    ]
    return kpi_overview(ws, start, end, parts, comparison)


def kpi_series(ws: Workspace, start: Any, end: Any, kpi: Kpi = PLACED_ORDER_AOV, freq: str = "day") -> ir.Table:
    """A KPI per day/week/month inside `[start, end]`: columns `period` (DATE), `value`.

    Weeks start on Monday. Measures `events`, `profiles`, `value` and `average_value` only.
    Periods without events are absent (an average over no orders is undefined).
    """
    units = {"day": "D", "week": "W", "month": "M"}
    if freq not in units:
        raise InputError(f"freq: expected one of {sorted(units)}, got {freq!r}")
    if kpi.measure not in {"events", "profiles", "value", "average_value"}:
        raise InputError(f"KPI {kpi.label!r}: measure {kpi.measure!r} has no time series")
    period = Period.parse(start, end)
    daily = rollups.for_workspace(ws)
    if daily and rollups.by_metric(kpi):
        return daily.series(kpi, period, units[freq])
    ev = _events(ws, kpi)
    ev = ev.filter((ev.timestamp >= period.lo) & (ev.timestamp < period.hi))
    ev = ev.mutate(period=ev.timestamp.truncate(units[freq]).date())
    val = ev.value.cast("float64")
    measure = {
        "events": ev.count().cast("float64"),
        "profiles": ev.profile_id.nunique().cast("float64"),
        "value": val.sum(),
        "average_value": val.sum() / ev.count(),
    }[kpi.measure]
    return ev.group_by("period").agg(value=measure).order_by("period")
