"""Engine-side inputs of the CLV models: order events and per-customer summary statistics.

The conventions reproduce `lifetimes.utils.summary_data_from_transaction_data(freq="D")`
exactly, so published results on CDNOW reproduce from raw transactions:

- orders on the same UTC day collapse into one purchase period whose value is their sum;
- `frequency` = purchase days after the first, `recency` = first to last purchase day,
  `T` = first purchase day to the as-of date (the as-of date is inclusive: an order on it
  counts, and a customer whose first order is on it has `T = 0`);
- `monetary_value` = mean value of the repeat purchase days (0 for one-time buyers);
- time unit `D` counts days, `W` counts days / 7 (fractional weeks, as in Fader, Hardie &
  Lee 2005).

Nothing here leaves the engine: every function takes and returns Ibis tables (`orders_table`
and `count_negative_orders` run one aggregate each to check the data).
"""

from __future__ import annotations

import datetime as dt
import warnings

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib import schema
from cdp_lib.clv.params import ClvParams, ClvWarning, unit_days
from cdp_lib.errors import DataError, InputError
from cdp_lib.filters import where_expr
from cdp_lib.metrics import events_for
from cdp_lib.prerequisites import as_of_end
from cdp_lib.workspace import Workspace


def orders_table(ws: Workspace, params: ClvParams) -> ir.Table:
    """Order events of `params.metric` (optionally filtered), negative values left out with a warning."""
    try:
        orders = events_for(ws, params.metric)
    except InputError:
        if params.metric != schema.PLACED_ORDER:
            raise
        raise DataError(
            f"no orders: metric {params.metric!r} has no events in the workspace; load orders "
            "with 'cdp ingest events' or pass the metric that records orders (--metric)"
        ) from None
    if params.where:
        orders = orders.filter(where_expr(orders, params.where, where="where", as_of=params.as_of))
    upto = orders.filter(orders.timestamp <= as_of_end(params.as_of))
    stats = upto.aggregate(n=upto.count(), negative=(upto.value < 0).sum(), first=upto.timestamp.min()).execute().iloc[0]
    if int(stats["n"]) == 0:
        first = orders.timestamp.min().execute()
        if first is not None and not pd.isna(first):
            raise DataError(
                f"as_of {params.as_of_date} is before the first {params.metric!r} event "
                f"({pd.Timestamp(first):%Y-%m-%d}); choose a later as-of date"
            )
        raise DataError(
            f"no orders: metric {params.metric!r} has no events in the workspace; load orders "
            "with 'cdp ingest events' or pass the metric that records orders (--metric)"
        )
    negative = int(stats["negative"] or 0)
    if negative:
        if negative == int(stats["n"]):
            raise DataError(
                f"all {negative:,} {params.metric!r} events up to {params.as_of_date} have a negative "
                "value; orders must carry the amount paid (record refunds as 'Refunded Order' events)"
            )
        warnings.warn(
            f"{negative:,} {params.metric!r} events with a negative value left out of CLV "
            "(record refunds as 'Refunded Order' events)", ClvWarning, stacklevel=2,
        )
    return orders.filter(orders.value.isnull() | (orders.value >= 0))


def refund_events(ws: Workspace, params: ClvParams) -> ir.Table:
    """Refund events; a store that never recorded the default refund metric simply has none."""
    try:
        return events_for(ws, params.refund_metric)
    except InputError:
        if params.refund_metric != schema.REFUNDED_ORDER:
            raise
        return ws.events.filter(ws.events.metric == params.refund_metric)


def count_negative_orders(ws: Workspace, params: ClvParams) -> int:
    """Order events with a negative value up to the as-of date (left out of CLV)."""
    orders = events_for(ws, params.metric)
    if params.where:
        orders = orders.filter(where_expr(orders, params.where, where="where", as_of=params.as_of))
    upto = orders.filter((orders.timestamp <= as_of_end(params.as_of)) & (orders.value < 0))
    return int(upto.count().execute())


def purchase_days_table(orders: ir.Table) -> ir.Table:
    """One row per (profile_id, UTC day) with an order: `day`, `value` (summed), `orders`."""
    return orders.group_by(profile_id=orders.profile_id, day=orders.timestamp.date()).agg(
        value=orders.value.fill_null(0).sum(), orders=orders.count()
    )


def summary_table(orders: ir.Table, as_of_date: dt.date, time_unit: str = "D") -> ir.Table:
    """Per-customer summary statistics up to and including `as_of_date`.

    Parameters
    ----------
    orders
        Order events with `profile_id`, `timestamp` (UTC) and `value`.
    as_of_date
        Last day of data (inclusive); later orders are ignored.
    time_unit
        `D` or `W` (days / 7).

    Returns
    -------
    Ibis table with `profile_id, first_day, last_day, purchase_days, historic_orders,
    gross_value, frequency, recency_days, T_days, recency, T, monetary_value` (recency and T
    in `time_unit`, the `*_days` columns whole days).
    """
    scale = unit_days(time_unit)
    end = pd.Timestamp(as_of_date).tz_localize("UTC") + pd.Timedelta(days=1)
    upto = orders.filter(orders.timestamp < end)
    days = purchase_days_table(upto)
    per = days.group_by("profile_id").agg(
        first_day=days.day.min(),
        last_day=days.day.max(),
        purchase_days=days.count(),
        historic_orders=days.orders.sum(),
        gross_value=days.value.sum(),
        first_day_value=days.value.argmin(days.day),
    )
    as_of = ibis.literal(pd.Timestamp(as_of_date).date(), type="date")
    frequency = per.purchase_days - 1
    recency_days = per.last_day.delta(per.first_day, unit="day")
    T_days = as_of.delta(per.first_day, unit="day")
    return per.mutate(
        frequency=frequency,
        recency_days=recency_days,
        T_days=T_days,
        recency=recency_days.cast("float64") / scale,
        T=T_days.cast("float64") / scale,
        monetary_value=ibis.ifelse(
            frequency > 0, (per.gross_value - per.first_day_value) / frequency.cast("float64"), 0.0
        ),
    ).drop("first_day_value")


def holdout_table(orders: ir.Table, calibration_end: dt.date, observation_end: dt.date) -> ir.Table:
    """Purchase days per customer after `calibration_end` up to `observation_end` (inclusive).

    Returns `profile_id, frequency_holdout, value_holdout`; customers without holdout
    purchases are absent (join with a left join and fill 0).
    """
    start = pd.Timestamp(calibration_end).tz_localize("UTC") + pd.Timedelta(days=1)
    stop = pd.Timestamp(observation_end).tz_localize("UTC") + pd.Timedelta(days=1)
    window = orders.filter((orders.timestamp >= start) & (orders.timestamp < stop))
    days = purchase_days_table(window)
    return days.group_by("profile_id").agg(frequency_holdout=days.count(), value_holdout=days.value.sum())


def repeat_days_by_date_table(orders: ir.Table, cohort: ir.Table, stop: dt.date) -> ir.Table:
    """Repeat purchase days per calendar day (up to `stop`) of the customers in `cohort`.

    `cohort` has `profile_id` and `first_day`; a customer's first purchase day is not a repeat.
    Returns `day, repeat_transactions` ordered by day.
    """
    end = pd.Timestamp(stop).tz_localize("UTC") + pd.Timedelta(days=1)
    days = purchase_days_table(orders.filter(orders.timestamp < end))
    joined = days.join(cohort.select("profile_id", "first_day"), "profile_id")
    repeats = joined.filter(joined.day > joined.first_day)
    return repeats.group_by("day").agg(repeat_transactions=repeats.count()).order_by("day")


def net_value_table(orders: ir.Table, refunds: ir.Table, as_of_date: dt.date) -> ir.Table:
    """Historic value net of refunds per customer: `profile_id, refunded_value`.

    A refund counts when it happened up to the as-of date and its `order_id` references one
    of the customer's orders; its absolute value is subtracted (sources record refunds with
    either sign).
    """
    end = pd.Timestamp(as_of_date).tz_localize("UTC") + pd.Timedelta(days=1)
    placed = orders.filter((orders.timestamp < end) & orders.order_id.notnull())
    placed = placed.select("profile_id", "order_id").distinct()
    back = refunds.filter((refunds.timestamp < end) & refunds.order_id.notnull())
    joined = back.select(order_id=back.order_id, refund=back.value.abs().fill_null(0)).join(placed, "order_id")
    return joined.group_by("profile_id").agg(refunded_value=joined.refund.sum())


def distinct_combinations_table(summary: ir.Table, columns: list[str]) -> ir.Table:
    """Distinct value combinations of `columns` with `weight` = number of customers."""
    # Ordered, so that every engine hands the fit the same rows in the same order (the fit sums
    # over rows, and floating-point sums depend on their order).
    return summary.group_by(columns).agg(weight=summary.count()).order_by(columns)
