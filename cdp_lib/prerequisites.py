"""Data prerequisites for RFM and predictive analytics, checked before anything is computed.

The rules follow the commercial product's published requirements: at least 500 customers who
ordered, at least 180 days of order history, at least one order in the 30 days before the as-of
date, and some customers with three or more orders.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field

import ibis
import pandas as pd

from cdp_lib.dates import as_of_end  # noqa: F401  (re-exported: the one as-of rule)
from cdp_lib.errors import DataError

MIN_CUSTOMERS = 500
MIN_HISTORY_DAYS = 180
RECENT_ORDER_DAYS = 30
MIN_ORDERS_FOR_REPEAT = 3


class PrerequisiteWarning(UserWarning):
    """Emitted when an analyst forces an analysis whose prerequisites are unmet."""


@dataclass
class PrerequisiteReport:
    customers: int
    history_days: int
    orders_last_30_days: int
    customers_with_3_orders: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def customer_activity_table(orders: ibis.Table, as_of: dt.date | str | None) -> ibis.Table:
    """Per customer with an order up to as-of: `orders`, `first_order`, `recent_orders` (orders
    in the `RECENT_ORDER_DAYS` days before the end of the as-of date)."""
    from cdp_lib.orders import order_summary_table  # orders imports workspace; keep this module light

    per = order_summary_table(orders, as_of, recent_days=RECENT_ORDER_DAYS)
    return per.select("profile_id", "orders", first_order=per.first_order_at, recent_orders=per.recent_orders)


def activity_stats(activity: ibis.Table) -> dict[str, ibis.Scalar]:
    """The aggregates the rules need, over a `customer_activity_table` (one pass over it)."""
    return {
        "customers": activity.count(),
        "first": activity.first_order.min(),
        "recent": activity.recent_orders.sum(),
        "repeaters": (activity.orders >= MIN_ORDERS_FOR_REPEAT).sum(),
    }


def check_prerequisites(orders: ibis.Table, as_of: dt.date | str | None, force: bool = False,
                        what: str = "RFM") -> PrerequisiteReport:
    """Check the four rules on an order table (`profile_id`, `timestamp`, positive `value`).

    Raises `DataError` naming each unmet rule and by how much, unless `force` is true, in which
    case a `PrerequisiteWarning` with the same text is emitted and the report returned. One
    query, one pass over the orders.
    """
    activity = customer_activity_table(orders, as_of)
    stats = activity.aggregate(**activity_stats(activity)).execute().iloc[0]
    return judge_prerequisites(stats, as_of, force, what)


def judge_prerequisites(stats, as_of: dt.date | str | None, force: bool = False,
                        what: str = "RFM") -> PrerequisiteReport:
    """Apply the rules to computed `activity_stats` (a row or mapping with their names)."""
    end = as_of_end(as_of)
    customers = int(stats["customers"] or 0)
    history = 0 if pd.isna(stats["first"]) else int((end - pd.Timestamp(stats["first"])).days)
    recent = 0 if pd.isna(stats["recent"]) else int(stats["recent"])
    repeaters = 0 if pd.isna(stats["repeaters"]) else int(stats["repeaters"])
    report = PrerequisiteReport(customers, history, recent, repeaters)
    if customers < MIN_CUSTOMERS:
        report.problems.append(
            f"{customers} customers with an order, need at least {MIN_CUSTOMERS} ({MIN_CUSTOMERS - customers} short)"
        )
    if history < MIN_HISTORY_DAYS:
        report.problems.append(
            f"{history} days of order history, need at least {MIN_HISTORY_DAYS} ({MIN_HISTORY_DAYS - history} short)"
        )
    if recent == 0:
        report.problems.append(f"no order in the {RECENT_ORDER_DAYS} days before {end:%Y-%m-%d}")
    if repeaters == 0:
        report.problems.append(f"no customer with {MIN_ORDERS_FOR_REPEAT} or more orders")
    if report.problems:
        text = f"{what} prerequisites unmet as of {end:%Y-%m-%d}: " + "; ".join(report.problems)
        if not force:
            raise DataError(text + ". Pass force=True (CLI: --force) to run anyway.")
        warnings.warn(text + " (forced: read the results with care)", PrerequisiteWarning, stacklevel=2)
    return report
