"""RFM values, scores and groups as Ibis expressions (`rfm_table`, `scored_rfm`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.errors import DataError, InputError
from cdp_lib.keys import suggest
from cdp_lib.metrics import events_for
from cdp_lib.orders import order_summary_table
from cdp_lib.prerequisites import PrerequisiteReport, RECENT_ORDER_DAYS, activity_stats, as_of_end, judge_prerequisites
from cdp_lib.workspace import Workspace
from cdp_lib.rfm.groups import GROUP_OF, RFM_COLUMNS, THIRDS
from cdp_lib.rfm.params import RfmParams, RfmThresholds


def orders_table(ws: Workspace, params: RfmParams, check: bool = True) -> ir.Table:
    """Orders (`profile_id`, `timestamp`, `value`) of the metric with value > 0 up to as-of.

    Raises `InputError` for an unknown metric (with close matches) and, with `check` (one count
    query), `DataError` when there is no order to score (none at all, only non-positive values,
    or none before the as-of date).
    """
    events = events_for(ws, params.metric)
    end = as_of_end(params.as_of_date)
    positive = events.filter(events.value > 0)
    orders = positive.filter(positive.timestamp <= end)
    if params.lookback_days is not None:
        orders = orders.filter(orders.timestamp > end - pd.Timedelta(days=params.lookback_days))
    orders = orders.select("profile_id", "timestamp", "value")
    if check and int(orders.count().execute()) == 0:
        _explain_no_orders(ws, params, events, positive)
    return orders


def _explain_no_orders(ws: Workspace, params: RfmParams, events: ir.Table, positive: ir.Table) -> None:
    metric, day = params.metric, params.as_of_date
    stats = events.aggregate(n=events.count(), positive=(events.value > 0).sum()).execute().iloc[0]
    if int(stats["n"]) == 0:
        names = sorted(str(m) for m in ws.events.metric.distinct().execute()["metric"].dropna())
        suggestion = suggest(metric, names) or (
            f"; metrics in the workspace: {', '.join(names[:10]) or 'none (load events first)'}"
        )
        raise InputError(f"metric {metric!r} has no events in the workspace{suggestion}")
    if int(stats["positive"] or 0) == 0:
        raise DataError(
            f"no orders to score: all {int(stats['n']):,} {metric!r} events have a value <= 0 or "
            "no value; RFM needs orders with a positive value (check the value column mapping)"
        )
    first = pd.Timestamp(positive.timestamp.min().execute())
    if first > as_of_end(day):
        raise DataError(
            f"no {metric!r} order on or before as_of {day}; the first order is on "
            f"{first:%Y-%m-%d}: choose a later as_of"
        )
    raise DataError(
        f"no {metric!r} order in the {params.lookback_days} days up to {day}; "
        "increase lookback_days or leave it empty for all history"
    )


def customer_orders_table(orders: ir.Table, as_of: dt.date) -> ir.Table:
    """Per customer, in one pass over the orders: what RFM scores (`last_order`, `orders`,
    `monetary`) and what the prerequisite check reads (`orders`, `first_order`, `recent_orders`)."""
    per = order_summary_table(orders, as_of, recent_days=RECENT_ORDER_DAYS)
    return per.select("profile_id", "orders", first_order=per.first_order_at, last_order=per.last_order_at,
                      recent_orders=per.recent_orders, monetary=per.revenue)


def rfm_values_table(orders: ir.Table, as_of: dt.date) -> ir.Table:
    """Per customer: `recency_days` (date of last order to `as_of`), `frequency`, `monetary`."""
    return _values_of(customer_orders_table(orders, as_of), as_of)


def _values_of(per: ir.Table, as_of: dt.date) -> ir.Table:
    return per.select(
        "profile_id",
        recency_days=ibis.literal(as_of).delta(per.last_order.date(), unit="day").cast("int64"),
        frequency=per.orders.cast("int64"),
        monetary=per.monetary.cast("float64"),
    )


def rfm_thresholds(values: ir.Table, params: RfmParams, as_of: dt.date | None = None) -> RfmThresholds:
    """The cut-offs for `values`: fixed ones from `params`, quantiles computed over `values`.

    Quantiles use linear interpolation (Ibis `quantile` -> DuckDB `quantile_cont`, exact, never
    the approximate variant), the same as ``numpy.quantile``'s default.
    """
    wanted = _quantile_aggregates({"frequency": values.frequency, "monetary": values.monetary}, params)
    row = values.aggregate(**wanted).execute().iloc[0] if wanted else {}
    return _thresholds_from(row, params, as_of)


def _quantile_aggregates(values: Mapping[str, ir.Column], params: RfmParams) -> dict[str, ir.Scalar]:
    """The quantile cut-offs `params` asks for, as aggregates of the `frequency` and `monetary`
    columns in `values` (named `frequency_c1`, ..., `monetary_c2`)."""
    wanted: dict[str, ir.Scalar] = {}
    for dim in ("frequency", "monetary"):
        if getattr(params, f"{dim}_thresholds") is None:
            q1, q2 = getattr(params, f"{dim}_quantiles") or THIRDS
            wanted[f"{dim}_c1"] = values[dim].quantile(q1)
            wanted[f"{dim}_c2"] = values[dim].quantile(q2)
    return wanted


def _thresholds_from(row: Mapping, params: RfmParams, as_of: dt.date | None) -> RfmThresholds:
    """Fixed cut-offs from `params`, the others from the computed quantile aggregates in `row`."""
    cuts: dict[str, tuple[float, float]] = {}
    computed = False
    for dim in ("frequency", "monetary"):
        fixed = getattr(params, f"{dim}_thresholds")
        if fixed is None:
            fixed, computed = (float(row[f"{dim}_c1"]), float(row[f"{dim}_c2"])), True
        cuts[dim] = fixed
    return RfmThresholds(
        recency_days=params.recency_days_thresholds,
        frequency=cuts["frequency"],
        monetary=cuts["monetary"],
        computed_at=(as_of or params.as_of_date) if computed else None,
    )


def rfm_scores_table(values: ir.Table, thresholds: RfmThresholds) -> ir.Table:
    """Add `r_score`, `f_score`, `m_score` (1-3) and `rfm_group` to an `rfm_values_table`."""
    r1, r2 = thresholds.recency_days
    f1, f2 = thresholds.frequency
    m1, m2 = thresholds.monetary
    scored = values.mutate(
        r_score=ibis.cases((values.recency_days <= r1, 3), (values.recency_days <= r2, 2), else_=1).cast("int64"),
        f_score=ibis.cases((values.frequency > f2, 3), (values.frequency > f1, 2), else_=1).cast("int64"),
        m_score=ibis.cases((values.monetary > m2, 3), (values.monetary > m1, 2), else_=1).cast("int64"),
    )
    # Group from the three digits as a number (an integer CASE; cheaper than building strings).
    code = scored.r_score * 100 + scored.f_score * 10 + scored.m_score
    groups = {int(c): g for c, g in GROUP_OF.items()}
    return scored.mutate(rfm_group=code.substitute(groups, else_=ibis.null("string")))


def rfm_table(ws: Workspace, params: RfmParams | None = None,
              thresholds: RfmThresholds | None = None) -> ir.Table:
    """One row per customer who ordered up to the as-of date, with scores and group.

    Columns: ``profile_id, external_id, email, recency_days, frequency, monetary, r_score,
    f_score, m_score, rfm_group``. Prerequisites are checked first (`params.force` turns a
    failure into a `PrerequisiteWarning`). Pass `thresholds` to score with cut-offs computed
    elsewhere (e.g. at another date); otherwise they are computed from this date's customers.
    """
    return checked_rfm(ws, params or RfmParams(), thresholds)[0]


def checked_rfm(ws: Workspace, params: RfmParams,
                 thresholds: RfmThresholds | None) -> tuple[ir.Table, RfmThresholds, PrerequisiteReport]:
    """Scores at `params.as_of`, after the checks. One query reads the orders once for the
    no-order check, the prerequisites and the quantile cut-offs; the returned table (an
    expression) reads them once more when it runs."""
    as_of = params.as_of_date
    orders = orders_table(ws, params, check=False)
    per = customer_orders_table(orders, as_of)
    values = _values_of(per, as_of)
    columns = {"frequency": per.orders.cast("int64"), "monetary": per.monetary.cast("float64")}  # as in values
    wanted = {} if thresholds is not None else _quantile_aggregates(columns, params)
    row = per.aggregate(**wanted, **activity_stats(per)).execute().iloc[0]
    if int(row["customers"]) == 0:
        events = events_for(ws, params.metric)
        _explain_no_orders(ws, params, events, events.filter(events.value > 0))
    report = judge_prerequisites(row, as_of, force=params.force, what="RFM")
    thresholds = thresholds or _thresholds_from(row, params, as_of)
    return _scored_with_profiles(ws, values, thresholds), thresholds, report


def rfm_at(ws: Workspace, orders: ir.Table, as_of: dt.date, params: RfmParams,
            thresholds: RfmThresholds | None) -> tuple[ir.Table, RfmThresholds]:
    values = rfm_values_table(orders, as_of)
    thresholds = thresholds or rfm_thresholds(values, params, as_of)
    return _scored_with_profiles(ws, values, thresholds), thresholds


def _scored_with_profiles(ws: Workspace, values: ir.Table, thresholds: RfmThresholds) -> ir.Table:
    scored = rfm_scores_table(values, thresholds)
    profiles = ws.profiles.select("profile_id", "external_id", "email")
    joined = scored.left_join(profiles, scored.profile_id == profiles.profile_id)
    return joined.select(
        scored.profile_id, profiles.external_id, profiles.email,
        *(scored[c] for c in RFM_COLUMNS[3:]),
    )


def scored_rfm(ws: Workspace, params: RfmParams | None = None) -> tuple[ir.Table, RfmThresholds]:
    """Like `rfm_table` but also returns the thresholds used (for reports)."""
    table, thresholds, _ = checked_rfm(ws, params or RfmParams(), None)
    return table, thresholds
