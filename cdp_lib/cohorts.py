"""Acquisition cohorts: do customers come back in the periods after their first order?

A customer's cohort is the calendar period (day, week starting Monday, or month; UTC) of their
first event of the cohort `metric`. Period 0 is the cohort's own period; a customer is *active*
in period k when they have at least one event of the `return_metric` in that calendar period.
Revenue and orders per customer count the cohort `metric`'s events (value and number) in the
period, divided by the cohort's size. Periods run from 0 to the period holding `until` (default:
the newest event of either metric), so a young cohort has fewer columns, never false zeros.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.errors import DataError, InputError
from cdp_lib.metrics import events_for, load_metrics
from cdp_lib.schema import PLACED_ORDER
from cdp_lib.workspace import Workspace

PERIODS = ("day", "week", "month")
_TRUNCATE = {"day": "D", "week": "W", "month": "M"}
MATRICES = (
    "customers", "active_customers", "retention", "revenue", "revenue_per_customer",
    "cumulative_revenue_per_customer", "orders", "orders_per_customer",
)


@dataclass(frozen=True)
class CohortParams:
    """Validated cohort definition; build it with `cohort_params(...)`."""

    metric: str = PLACED_ORDER
    return_metric: str | None = None
    period: str = "month"
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    until: dt.date | None = None
    breakdown: str | None = None

    @property
    def activity_metric(self) -> str:
        return self.return_metric or self.metric


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a date; expected YYYY-MM-DD") from None


def cohort_params(
    metric: str = PLACED_ORDER,
    return_metric: str | None = None,
    period: str = "month",
    from_date: Any = None,
    to_date: Any = None,
    until: Any = None,
    breakdown: str | None = None,
) -> CohortParams:
    """Validate a cohort definition (shapes only; metric names are checked against the data)."""
    if period not in PERIODS:
        raise InputError(f"period: expected one of {list(PERIODS)}, got {period!r}")
    if not isinstance(metric, str) or not metric:
        raise InputError(f"metric: expected an event or custom metric name, got {metric!r}")
    start, end = _date(from_date, "from_date"), _date(to_date, "to_date")
    if start and end and start > end:
        raise InputError(f"from_date {start} is after to_date {end}; swap them")
    return CohortParams(metric, return_metric or None, period, start, end, _date(until, "until"), breakdown or None)


def _period_index(event_period: ir.TimestampValue, cohort: ir.TimestampValue, period: str) -> ir.IntegerValue:
    if period == "month":
        return (event_period.year() * 12 + event_period.month()) - (cohort.year() * 12 + cohort.month())
    days = event_period.delta(cohort, unit="day")
    return days // 7 if period == "week" else days


def _day_end(day: dt.date) -> ibis.Scalar:
    nxt = day + dt.timedelta(days=1)
    return ibis.timestamp(dt.datetime(nxt.year, nxt.month, nxt.day), timezone="UTC")


def _day_start(day: dt.date) -> ibis.Scalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day), timezone="UTC")


def cohort_members_table(ws: Workspace, params: CohortParams, metrics=None) -> ir.Table:
    """One row per customer: profile_id, cohort_start (period start, UTC), [breakdown]."""
    metrics = load_metrics() if metrics is None else metrics
    orders = events_for(ws, params.metric, metrics)
    if params.breakdown and params.breakdown in orders.columns:
        # the first order's own properties are needed: rank (ties by event_id)
        ranked = orders.mutate(
            _rn=ibis.row_number().over(group_by="profile_id", order_by=[orders.timestamp, orders.event_id])
        )
        first = ranked.filter(ranked._rn == 0)
    else:  # only the first moment matters: a plain aggregate is much cheaper than a ranking window
        first = orders.group_by("profile_id").aggregate(timestamp=orders.timestamp.min())
    first = first.mutate(cohort_start=first.timestamp.truncate(_TRUNCATE[params.period]))
    if params.from_date:
        first = first.filter(first.cohort_start >= _day_start(params.from_date).truncate(_TRUNCATE[params.period]))
    if params.to_date:
        first = first.filter(first.cohort_start < _day_end(params.to_date))
    cols = [first.profile_id, first.cohort_start]
    if params.breakdown:
        if params.breakdown in first.columns:
            cols.append(first[params.breakdown].cast("string").fill_null("(not set)").name("_bd"))
            return first.select(*cols).rename({params.breakdown: "_bd"})
        prof = ws.profiles
        if params.breakdown not in prof.columns:
            import difflib

            hint = difflib.get_close_matches(params.breakdown, sorted(set(first.columns) | set(prof.columns)), n=3)
            raise InputError(
                f"breakdown: {params.breakdown!r} is neither a property of the first order nor a profile "
                "property" + (f"; did you mean {', '.join(hint)}?" if hint else "")
            )
        p = prof.select(_pid=prof.profile_id, _bd=prof[params.breakdown].cast("string").fill_null("(not set)"))
        base = first.select(*cols)
        joined = base.left_join(p, base.profile_id == p._pid)
        out = joined.select("profile_id", "cohort_start", _bd=joined._bd.fill_null("(not set)"))
        return out.rename({params.breakdown: "_bd"})
    return first.select(*cols)


def cohort_table(ws: Workspace, params: CohortParams, metrics=None) -> ir.Table:
    """Long cohort table, one row per (cohort, period[, breakdown]).

    Columns: [breakdown], cohort (label: YYYY-MM for months, ISO date of the first day for
    weeks and days), cohort_start, period (0 = the cohort's own period), customers,
    active_customers, retention, revenue, revenue_per_customer, cumulative_revenue_per_customer,
    orders, orders_per_customer.
    """
    metrics = load_metrics() if metrics is None else metrics
    unit = _TRUNCATE[params.period]
    members = cohort_members_table(ws, params, metrics)
    group = [params.breakdown] if params.breakdown else []

    orders = events_for(ws, params.metric, metrics)
    activity = orders if params.activity_metric == params.metric else events_for(ws, params.activity_metric, metrics)
    until = params.until
    if until is None:
        newest = [orders.timestamp.max().execute()]
        if activity is not orders:
            newest.append(activity.timestamp.max().execute())
        newest = [pd.Timestamp(t) for t in newest if t is not None and not pd.isna(t)]
        if not newest:
            raise DataError(f"no events of {params.metric!r} in the workspace; nothing to build cohorts from")
        until = max(newest).date()
    last_period = _day_start(until).truncate(unit)

    def per_period(events: ir.Table) -> ir.Table:
        ev = events.filter(events.timestamp < _day_end(until))
        ev = ev.select("profile_id", "timestamp", "value")
        j = ev.join(members, ev.profile_id == members.profile_id)
        j = j.mutate(period=_period_index(j.timestamp.truncate(unit), j.cohort_start, params.period))
        return j.filter(j.period >= 0)

    rev = per_period(orders)
    if activity is orders:  # one pass when activity and orders are the same events
        both = rev.group_by("cohort_start", *group, "period").aggregate(
            active_customers=rev.profile_id.nunique(), revenue=rev.value.fill_null(0).sum(), orders=rev.count()
        )
        active = money = None
    else:
        act = per_period(activity)
        active = act.group_by("cohort_start", *group, "period").aggregate(active_customers=act.profile_id.nunique())
        money = rev.group_by("cohort_start", *group, "period").aggregate(
            revenue=rev.value.fill_null(0).sum(), orders=rev.count()
        )
    sizes = members.group_by("cohort_start", *group).aggregate(customers=members.count())
    sizes = sizes.mutate(_last=_period_index(last_period, sizes.cohort_start, params.period))

    max_periods = int(sizes._last.max().execute() or 0)
    grid_periods = ibis.memtable(pd.DataFrame({"period": range(0, max_periods + 1)}, dtype="int64"))
    grid = sizes.cross_join(grid_periods)
    grid = grid.filter(grid.period <= grid._last).drop("_last")
    keys = ["cohort_start", *group, "period"]
    if active is None:
        out = grid.left_join(both, keys).select(grid, active_customers=both.active_customers,
                                                 revenue=both.revenue, orders=both.orders)
    else:
        out = grid.left_join(active, keys).select(grid, active_customers=active.active_customers)
        out = out.left_join(money, keys).select(out, revenue=money.revenue, orders=money.orders)
    out = out.mutate(
        active_customers=out.active_customers.fill_null(0),
        revenue=out.revenue.fill_null(0.0),
        orders=out.orders.fill_null(0),
    )
    w = ibis.window(group_by=["cohort_start", *group], order_by="period", preceding=None, following=0)
    size = out.customers.cast("float64")
    label = out.cohort_start.strftime("%Y-%m" if params.period == "month" else "%Y-%m-%d")
    out = out.mutate(
        cohort=label,
        retention=out.active_customers.cast("float64") / size,
        revenue_per_customer=out.revenue / size,
        cumulative_revenue_per_customer=out.revenue.sum().over(w) / size,
        orders_per_customer=out.orders.cast("float64") / size,
    )
    cols = [*group, "cohort", "cohort_start", "period", "customers", "active_customers", "retention", "revenue",
            "revenue_per_customer", "cumulative_revenue_per_customer", "orders", "orders_per_customer"]
    return out.select(*cols).order_by([*group, "cohort_start", "period"])


def cohort_matrix(long: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """Pivot a computed `cohort_table` into cohorts x periods for one measure (a heatmap)."""
    if value not in MATRICES:
        raise InputError(f"value: expected one of {list(MATRICES)}, got {value!r}")
    index = [c for c in long.columns if c not in {"cohort_start", "period", *MATRICES}]
    index = [c for c in index if c != "cohort"] + ["cohort"]
    return long.pivot_table(index=index, columns="period", values=value, aggfunc="first", sort=True)
