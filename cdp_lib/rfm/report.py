"""What the RFM report shows: group counts, revenue share, change between two dates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import parse_date
from cdp_lib.errors import DataError, InputError
from cdp_lib.params import renamed_keyword
from cdp_lib.workspace import Workspace
from cdp_lib.rfm.groups import DEFAULT_CHANGE_DAYS, GROUP_ORDER, NEVER_PURCHASED, NOT_SCORED
from cdp_lib.rfm.params import RfmParams, RfmThresholds
from cdp_lib.rfm.engine import checked_rfm, rfm_at, orders_table


def _group_frame() -> ir.Table:
    return ibis.memtable(pd.DataFrame({"rfm_group": list(GROUP_ORDER), "position": range(len(GROUP_ORDER))}))


def rfm_group_counts_table(rfm: ir.Table) -> ir.Table:
    """Customers and share (%) per group, all six groups in report order."""
    counts = rfm.group_by("rfm_group").agg(customers=rfm.count())
    groups = _group_frame()
    joined = groups.left_join(counts, groups.rfm_group == counts.rfm_group)
    total = counts.customers.sum().as_scalar()
    out = joined.select(groups.rfm_group, groups.position, customers=joined.customers.fill_null(0))
    return out.mutate(share=(100.0 * out.customers / total)).order_by("position").drop("position")


def rfm_revenue_table(rfm: ir.Table) -> ir.Table:
    """Per group, in report order: customers, revenue (sum of `monetary`), and both as a share (%)
    of all scored customers: customer_share, revenue_share."""
    sums = rfm.group_by("rfm_group").agg(customers=rfm.count(), revenue=rfm.monetary.sum())
    groups = _group_frame()
    joined = groups.left_join(sums, groups.rfm_group == sums.rfm_group)
    out = joined.select(groups.rfm_group, groups.position, customers=joined.customers.fill_null(0),
                        revenue=joined.revenue.fill_null(0.0).cast("float64"))
    people = sums.customers.sum().as_scalar()
    money = sums.revenue.sum().as_scalar()
    out = out.mutate(customer_share=ibis.cases((people > 0, 100.0 * out.customers / people), else_=0.0),
                     revenue_share=ibis.cases((money > 0, 100.0 * out.revenue / money), else_=0.0))
    return out.order_by("position").drop("position")


@dataclass
class RfmChange:
    """Groups at two dates scored with the same thresholds, and what changed in between."""

    start_date: dt.date
    end_date: dt.date
    thresholds: RfmThresholds
    start: ir.Table
    end: ir.Table
    distribution: ir.Table
    transitions: ir.Table
    medians: ir.Table


def rfm_change(ws: Workspace, from_: dt.date | str | None = None, to: dt.date | str | None = None,
               params: RfmParams | None = None, *, start: dt.date | str | None = None,
               end: dt.date | str | None = None) -> RfmChange:
    """Compare RFM groups at `from_` and `to` (default: `params.as_of`, or today).

    `from_` None means `DEFAULT_CHANGE_DAYS` (90) days before `to`. `start`/`end` are the old
    names of `from_`/`to` (accepted with a `DeprecatedSpellingWarning`).

    The frequency/monetary cut-offs are computed once, on the customers scored at the END date,
    and applied at both dates, so a customer moves only because their own orders changed, not
    because the population's thirds moved. Prerequisites are checked at the end date.
    """
    params = params or RfmParams()
    start_date = parse_date(renamed_keyword("from_", "start", from_, start), "from")
    end_date = parse_date(renamed_keyword("to", "end", to, end), "to") or params.as_of_date
    if start_date is None:
        start_date = end_date - dt.timedelta(days=DEFAULT_CHANGE_DAYS)
    if start_date >= end_date:
        raise InputError(f"from {start_date} must be before to {end_date}")
    end_params = params.replace(as_of=end_date)
    end_rfm, thresholds, _ = checked_rfm(ws, end_params, None)
    end_orders = orders_table(ws, end_params, check=False)
    start_params = params.replace(as_of=start_date)
    try:
        start_orders = orders_table(ws, start_params)
    except DataError:  # nobody had ordered yet: everyone comes from "Never purchased"
        start_orders = end_orders.filter(ibis.literal(False))
    start_rfm, _ = rfm_at(ws, start_orders, start_date, start_params, thresholds)
    return RfmChange(
        start_date=start_date,
        end_date=end_date,
        thresholds=thresholds,
        start=start_rfm,
        end=end_rfm,
        distribution=rfm_distribution_table(start_rfm, end_rfm),
        transitions=rfm_transition_table(start_rfm, end_rfm),
        medians=rfm_change_medians_table(start_rfm, end_rfm, start_date, end_date),
    )


def rfm_change_medians_table(start: ir.Table, end: ir.Table, start_date: dt.date, end_date: dt.date) -> ir.Table:
    """`rfm_medians_table` at both dates, with an `as_of` column first (start rows, then end rows)."""
    medians = rfm_medians_table(start).mutate(as_of=ibis.literal(start_date)).union(
        rfm_medians_table(end).mutate(as_of=ibis.literal(end_date)))
    return medians.relocate("as_of").order_by(["as_of", "position"]).drop("position")


def rfm_distribution_table(start: ir.Table, end: ir.Table) -> ir.Table:
    """Per group: customers at start and end, added (entered), dropped (left), change, % change.

    Customers with no order at the start count as added to their end group. `pct_change` is
    relative to the start count (null when the group was empty at the start).
    """
    s = start.select("profile_id", start_group="rfm_group")
    e = end.select("profile_id", end_group="rfm_group")
    pairs = s.outer_join(e, s.profile_id == e.profile_id).select(s.start_group, e.end_group)
    moved = pairs.start_group.isnull() | pairs.end_group.isnull() | (pairs.start_group != pairs.end_group)
    at_start = pairs.group_by(rfm_group=pairs.start_group).agg(
        customers_start=pairs.count(), dropped=moved.sum())
    at_end = pairs.group_by(rfm_group=pairs.end_group).agg(customers_end=pairs.count(), added=moved.sum())
    groups = _group_frame()
    out = (
        groups.left_join(at_start, groups.rfm_group == at_start.rfm_group)
        .drop("rfm_group_right")
        .left_join(at_end, groups.rfm_group == at_end.rfm_group)
        .drop("rfm_group_right")
    )
    out = out.select(
        "rfm_group", "position",
        customers_start=out.customers_start.fill_null(0).cast("int64"),
        customers_end=out.customers_end.fill_null(0).cast("int64"),
        added=out.added.fill_null(0).cast("int64"),
        dropped=out.dropped.fill_null(0).cast("int64"),
    )
    out = out.mutate(change=out.customers_end - out.customers_start)
    pct = ibis.cases((out.customers_start > 0, 100.0 * out.change / out.customers_start), else_=ibis.null("float64"))
    return out.mutate(pct_change=pct).order_by("position").drop("position")


def rfm_transition_table(start: ir.Table, end: ir.Table) -> ir.Table:
    """Customers per (`from_group`, `to_group`); "Never purchased" is the source of newcomers.

    With a lookback window a customer scored at the start may have no order in the end window:
    their `to_group` is "No order in lookback".
    """
    s = start.select("profile_id", start_group="rfm_group")
    e = end.select("profile_id", end_group="rfm_group")
    pairs = s.outer_join(e, s.profile_id == e.profile_id).select(
        from_group=s.start_group.fill_null(NEVER_PURCHASED),
        to_group=e.end_group.fill_null(NOT_SCORED),
    )
    return pairs.group_by("from_group", "to_group").agg(customers=pairs.count()).order_by(
        ["from_group", "to_group"])


def rfm_medians_table(rfm: ir.Table) -> ir.Table:
    """Per group (report order, with a `position` column): customers and median recency, orders, revenue."""
    med = rfm.group_by("rfm_group").agg(
        customers=rfm.count(),
        median_recency_days=rfm.recency_days.median(),
        median_frequency=rfm.frequency.median(),
        median_monetary=rfm.monetary.median(),
    )
    groups = _group_frame()
    joined = groups.inner_join(med, groups.rfm_group == med.rfm_group)
    return joined.select(
        groups.rfm_group, groups.position, med.customers,
        med.median_recency_days.cast("float64").name("median_recency_days"),
        med.median_frequency.cast("float64").name("median_frequency"),
        med.median_monetary.cast("float64").name("median_monetary"),
    ).order_by("position")
