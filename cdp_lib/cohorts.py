"""Acquisition cohorts: do customers come back in the periods after their first order?

A customer's cohort is the calendar period (day, week starting Monday, or month; UTC) of their
first event of the cohort `metric`. Period 0 is the cohort's own period; a customer is *active*
in period k when they have at least one event of the `return_metric` in that calendar period.
Revenue and orders per customer count the cohort `metric`'s events (value and number) in the
period, divided by the cohort's size. Periods run from 0 to the period holding `until` (default:
the newest event of either metric), so a young cohort has fewer columns, never false zeros. The
period holding `until` is still running when it ends after `until`: its rows carry
`period_complete = False`, so charts never draw it as a drop in retention.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import parse_date
from cdp_lib.errors import DataError, InputError
from cdp_lib.metrics import events_for, load_metrics
from cdp_lib.params import Params, renamed_keyword
from cdp_lib.schema import PLACED_ORDER
from cdp_lib.workspace import Workspace

PERIODS = ("day", "week", "month")
NOT_SET = "(not set)"
MATRICES = (
    "customers", "active_customers", "retention", "revenue", "revenue_per_customer",
    "cumulative_revenue_per_customer", "orders", "orders_per_customer", "period_complete",
)


@dataclass(frozen=True)
class CohortParams(Params):
    """Validated cohort definition; build it with `cohort_params(...)` or `from_mapping`/`from_yaml`
    (YAML `grain`, `from`/`to`; the old `period`, `from_date`/`to_date` still work and warn).
    The attribute `period` holds the grain."""

    BUILDER: ClassVar[str] = "cohort_params"
    ALIASES: ClassVar[Mapping[str, str]] = {"period": "grain", "from_date": "from_", "to_date": "to"}
    WHERE: ClassVar[str] = "cohort parameters"

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




def cohort_params(
    metric: str = PLACED_ORDER,
    return_metric: str | None = None,
    grain: str = "month",
    from_: Any = None,
    to: Any = None,
    until: Any = None,
    breakdown: str | None = None,
    *,
    period: str | None = None,
    from_date: Any = None,
    to_date: Any = None,
) -> CohortParams:
    """Validate a cohort definition (shapes only; metric names are checked against the data).

    `grain` (day, week, month) sizes the cohorts and periods; `from_`/`to` bound the cohort days.
    `period`, `from_date` and `to_date` are the old names (accepted with a warning)."""
    grain = renamed_keyword("grain", "period", None if grain == "month" else grain, period) or "month"
    from_ = renamed_keyword("from_", "from_date", from_, from_date)
    to = renamed_keyword("to", "to_date", to, to_date)
    if grain not in PERIODS:
        raise InputError(f"grain: expected one of {list(PERIODS)}, got {grain!r}")
    if not isinstance(metric, str) or not metric:
        raise InputError(f"metric: expected an event or custom metric name, got {metric!r}")
    start, end = parse_date(from_, "from"), parse_date(to, "to")
    if start and end and start > end:
        raise InputError(f"from {start} is after to {end}; swap them")
    return CohortParams(metric, return_metric or None, grain, start, end, parse_date(until, "until"), breakdown or None)


def _period_start(day: dt.date, period: str) -> dt.date:
    if period == "month":
        return day.replace(day=1)
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day


def _next_start(start: dt.date, period: str) -> dt.date:
    if period == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=7 if period == "week" else 1)


def _calendar(first: dt.date, until: dt.date, period: str) -> list[dt.date]:
    """Period starts from the period holding `first` through the one holding `until`."""
    starts, day = [], _period_start(first, period)
    while day <= until:
        starts.append(day)
        day = _next_start(day, period)
    return starts


def _position(starts: list[dt.date], day: dt.date) -> int:
    """Ordinal of the period holding `day` (-1 before the first)."""
    return bisect.bisect_right(starts, day) - 1


def _ordinal(ts: ir.TimestampValue, bounds: list[dt.date], first: int) -> ir.IntegerValue:
    """`first` + the number of `bounds` at or before `ts` (bounds sorted ascending).

    A binary search of nested comparisons against literal boundaries: calendar periods are found
    without per-row calendar arithmetic (truncating or extracting fields of time-zone aware
    timestamps is slow on some engines, e.g. DuckDB's ICU), about log2(periods) comparisons a row.
    """

    def search(lo: int, hi: int) -> ir.IntegerValue:  # the count is in [lo, hi]
        if lo == hi:
            return ibis.literal(first + lo, type="int64")
        mid = (lo + hi + 1) // 2
        return ibis.ifelse(ts < _day_start(bounds[mid - 1]), search(lo, mid - 1), search(mid, hi))

    return search(0, len(bounds))


def _day_start(day: dt.date) -> ibis.Scalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day), timezone="UTC")


# periods a person is active in are bits of a signed 64-bit integer (bits 0..62)
MASK_BITS = 63
# a literal 1 typed int64 is written as a bare `1`, which DuckDB reads as a 32-bit INTEGER, and
# shifting it by a literal period ordinal >= 31 is then out of range: cast from int32 so the SQL
# holds an explicit CAST(1 AS BIGINT)
_ONE = ibis.literal(1, type="int32").cast("int64")


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(x: int) -> int:
    """Bitwise OR of the group's values (DuckDB and Spark SQL `bit_or`)."""


def _breakdown_members(ws: Workspace, params: CohortParams, orders: ir.Table, firsts: ir.Table) -> ir.Table:
    """`firsts` (profile_id, _c) with `_bd`: a property of the first order, else of the profile."""
    prop = params.breakdown
    if prop in orders.columns:
        # the first order's own properties are needed: rank (ties by event_id)
        ranked = orders.mutate(
            _rn=ibis.row_number().over(group_by="profile_id", order_by=[orders.timestamp, orders.event_id])
        )
        first = ranked.filter(ranked._rn == 0)
        first = first.select(_fp=first.profile_id, _bd=first[prop].cast("string").fill_null(NOT_SET))
        joined = firsts.join(first, firsts.profile_id == first._fp)
        return joined.select(*firsts.columns, "_bd")
    prof = ws.profiles
    if prop not in prof.columns:
        from cdp_lib.keys import suggest

        raise InputError(
            f"breakdown: {prop!r} is neither a property of the first order nor a profile "
            "property" + suggest(prop, set(orders.columns) | set(prof.columns))
        )
    p = prof.select(_pid=prof.profile_id, _bd=prof[prop].cast("string"))
    joined = firsts.left_join(p, firsts.profile_id == p._pid)
    return joined.select(*firsts.columns, _bd=joined._bd.fill_null(NOT_SET))


def cohort_table(ws: Workspace, params: CohortParams, metrics=None) -> ir.Table:
    """Long cohort table, one row per (cohort, period[, breakdown]).

    Columns: [breakdown], cohort (label: YYYY-MM for months, ISO date of the first day for
    weeks and days), cohort_start, period (0 = the cohort's own period), customers,
    active_customers, retention, revenue, revenue_per_customer, cumulative_revenue_per_customer,
    orders, orders_per_customer, period_complete (False for the calendar period holding `until`
    when it ends after `until`: that period is still running and its figures are partial).

    Plan: one small query finds the time span; each event gets the ordinal of its calendar period
    (comparisons with literal period starts); a customer's cohort is the smallest ordinal of their
    orders (one group-by); events joined to it are aggregated per (cohort, period).
    """
    metrics = load_metrics() if metrics is None else metrics
    orders = events_for(ws, params.metric, metrics)
    same = params.activity_metric == params.metric
    activity = orders if same else events_for(ws, params.activity_metric, metrics)

    span = orders.aggregate(lo=orders.timestamp.min(), hi=orders.timestamp.max()).execute().iloc[0]
    if span.lo is None or pd.isna(span.lo):
        raise DataError(f"no events of {params.metric!r} in the workspace; nothing to build cohorts from")
    until = params.until
    if until is None:
        newest = [pd.Timestamp(span.hi)]
        if not same:
            hi = activity.timestamp.max().execute()
            if hi is not None and not pd.isna(hi):
                newest.append(pd.Timestamp(hi))
        until = max(newest).date()
    starts = _calendar(pd.Timestamp(span.lo).date(), until, params.period) or [_period_start(until, params.period)]
    n_periods = len(starts)
    # events after the end of `until` fall past the last boundary: the last period may be partial
    bounds = [*starts, until + dt.timedelta(days=1)]
    # only the calendar period holding `until` can end after it (every earlier one ends before
    # its start); it is complete when its last day is `until` itself
    last_complete = _next_start(starts[-1], params.period) - dt.timedelta(days=1) <= until

    def inside(events: ir.Table) -> ir.Table:
        ts = events.timestamp
        return events.filter((ts >= _day_start(bounds[0])) & (ts < _day_start(bounds[-1])))

    def ordinal(ts: ir.TimestampValue) -> ir.IntegerValue:
        return _ordinal(ts, bounds[1:-1], 0)

    # a customer's cohort: the period of their first order, from a plain group-by of the orders
    # (only one time value per person gets its period); with few periods, the same pass ORs the
    # periods they are active in into a bit mask, so no distinct count over the rows is needed
    use_mask = n_periods <= MASK_BITS
    ev = inside(orders)
    people = ev.group_by("profile_id").aggregate(
        _t=ev.timestamp.min(), **({"_m": _bit_or(_ONE << ordinal(ev.timestamp))} if use_mask and same else {})
    )
    firsts = people.mutate(_c=ordinal(people._t)).drop("_t")
    if params.from_date:
        firsts = firsts.filter(firsts._c >= _position(starts, _period_start(params.from_date, params.period)))
    if params.to_date:
        firsts = firsts.filter(firsts._c <= _position(starts, params.to_date))
    group: list[str] = []
    if params.breakdown:
        firsts = _breakdown_members(ws, params, orders, firsts)
        group = ["_bd"]
    keys = ["_c", *group, "period"]

    if use_mask:
        members = firsts
        if not same:
            act = inside(activity)
            act = act.group_by("profile_id").aggregate(_m=_bit_or(_ONE << ordinal(act.timestamp)))
            members = firsts.join(act, "profile_id")
        ks = ibis.memtable(pd.DataFrame({"_k": range(n_periods)}, dtype="int64"))
        x = members.cross_join(ks)
        x = x.filter((x._k >= x._c) & (((x._m >> x._k) & 1) == 1))
        x = x.mutate(period=x._k - x._c)
        active = x.group_by(keys).aggregate(active_customers=x.count())
    else:  # one row per (person, period) they are active in, then counted per (cohort, period)
        act = inside(activity)
        act = act.select("profile_id", _o=ordinal(act.timestamp)).distinct()
        x = act.join(firsts, "profile_id")
        x = x.mutate(period=x._o - x._c)
        active = x.group_by(keys).aggregate(active_customers=x.count())

    rows = ev.select("profile_id", "value", _o=ordinal(ev.timestamp))
    rows = rows.join(firsts, "profile_id")
    rows = rows.mutate(period=rows._o - rows._c)
    money = rows.group_by(keys).aggregate(revenue=rows.value.fill_null(0).sum(), orders=rows.count())

    sizes = firsts.group_by("_c", *group).aggregate(customers=firsts.count())
    grid_periods = ibis.memtable(pd.DataFrame({"period": range(n_periods)}, dtype="int64"))
    grid = sizes.cross_join(grid_periods)
    grid = grid.filter(grid._c + grid.period < n_periods)
    out = grid.left_join(active, keys).select(grid, active_customers=active.active_customers)
    out = out.left_join(money, keys).select(out, revenue=money.revenue, orders=money.orders)
    calendar = ibis.memtable(pd.DataFrame({
        "_cs": range(n_periods),
        "cohort_start": pd.to_datetime([dt.datetime(d.year, d.month, d.day) for d in starts]).tz_localize("UTC"),
    }))
    out = out.join(calendar, out._c == calendar._cs)
    out = out.mutate(
        active_customers=out.active_customers.fill_null(0),
        revenue=out.revenue.fill_null(0.0),
        orders=out.orders.fill_null(0),
    )
    group = [params.breakdown] if params.breakdown else []
    if params.breakdown:
        out = out.rename({params.breakdown: "_bd"})
    w = ibis.window(group_by=["cohort_start", *group], order_by="period", preceding=None, following=0)
    size = out.customers.cast("float64")
    label = out.cohort_start.strftime("%Y-%m" if params.period == "month" else "%Y-%m-%d")
    out = out.mutate(
        cohort=label,
        retention=out.active_customers.cast("float64") / size,
        revenue_per_customer=out.revenue / size,
        cumulative_revenue_per_customer=out.revenue.sum().over(w) / size,
        orders_per_customer=out.orders.cast("float64") / size,
        period_complete=(out._c + out.period < n_periods - 1) | ibis.literal(last_complete),
    )
    cols = [*group, "cohort", "cohort_start", "period", "customers", "active_customers", "retention", "revenue",
            "revenue_per_customer", "cumulative_revenue_per_customer", "orders", "orders_per_customer",
            "period_complete"]
    return out.select(*cols).order_by([*group, "cohort_start", "period"])


def cohort_matrix(long: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """Pivot a computed `cohort_table` into cohorts x periods for one measure (a heatmap)."""
    if value not in MATRICES:
        raise InputError(f"value: expected one of {list(MATRICES)}, got {value!r}")
    index = [c for c in long.columns if c not in {"cohort_start", "period", *MATRICES}]
    index = [c for c in index if c != "cohort"] + ["cohort"]
    return long.pivot_table(index=index, columns="period", values=value, aggfunc="first", sort=True)
