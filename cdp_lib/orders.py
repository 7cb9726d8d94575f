"""Per-customer order summary: the shared starting point of RFM, CLV and cohort questions."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from cdp_lib import schema
from cdp_lib.dates import as_of_end
from cdp_lib.workspace import Workspace


def customer_orders_table(source: Workspace | ir.Table, metric: str = schema.PLACED_ORDER,
                          as_of: dt.date | str | None = None) -> ir.Table:
    """One row per profile that has at least one event of `metric` up to the as-of moment.

    Parameters
    ----------
    source
        A `Workspace` (its `events` table is used) or an events table with the canonical
        columns `profile_id`, `metric`, `timestamp`, `value`.
    metric
        The order event's name.
    as_of
        Only events at or before the end of this UTC date count; None means today (UTC).

    Returns
    -------
    ibis.Table
        `profile_id`, `orders` (int64: number of events), `revenue` (float64: sum of `value`,
        missing values counting as 0), `first_order_at`, `last_order_at` (UTC timestamps).

    Examples
    --------
    >>> import pandas as pd
    >>> from cdp_lib.testing import workspace_from_frames
    >>> ws = workspace_from_frames(events=pd.DataFrame({
    ...     "event_id": ["1", "2", "3"], "profile_id": ["a", "a", "b"],
    ...     "metric": ["Placed Order"] * 3, "value": [10.0, 5.5, None],
    ...     "timestamp": ["2024-01-01", "2024-02-01", "2024-03-01"]}))
    >>> customer_orders_table(ws, as_of="2024-12-31").order_by("profile_id").execute()[
    ...     ["profile_id", "orders", "revenue"]].to_dict("records")
    [{'profile_id': 'a', 'orders': 2, 'revenue': 15.5}, {'profile_id': 'b', 'orders': 1, 'revenue': 0.0}]
    """
    events = source.events if isinstance(source, Workspace) else source
    return order_summary_table(events.filter(events.metric == metric), as_of)


def order_summary_table(orders: ir.Table, as_of: dt.date | str | None = None,
                        recent_days: int | None = None) -> ir.Table:
    """The one per-customer order summary, over rows that are orders already (any filter applied).

    Rows after the end of the as-of date (UTC; None: today) are left out. Columns: `profile_id`,
    `orders` (int64), `revenue` (float64, missing values as 0), `first_order_at`, `last_order_at`,
    and with `recent_days` also `recent_orders` (orders in the `recent_days` days before the end
    of the as-of date). `customer_orders_table`, RFM and the prerequisite checks all read it.
    """
    end = as_of_end(as_of)
    upto = orders.filter(orders.timestamp <= ibis.literal(end))
    columns = dict(
        orders=upto.count().cast("int64"),
        revenue=upto.value.fill_null(0.0).sum().cast("float64"),
        first_order_at=upto.timestamp.min(),
        last_order_at=upto.timestamp.max(),
    )
    if recent_days is not None:
        since = ibis.literal(end - dt.timedelta(days=recent_days))
        columns["recent_orders"] = (upto.timestamp > since).sum().cast("int64")
    return upto.group_by("profile_id").aggregate(**columns)
