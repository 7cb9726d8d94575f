"""Per-customer order summary: the shared starting point of RFM, CLV and cohort questions."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from cdp_lib import schema
from cdp_lib.prerequisites import as_of_end
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
    orders = events.filter(events.metric == metric)
    orders = orders.filter(orders.timestamp <= ibis.literal(as_of_end(as_of)))
    return orders.group_by("profile_id").aggregate(
        orders=orders.count().cast("int64"),
        revenue=orders.value.fill_null(0.0).sum().cast("float64"),
        first_order_at=orders.timestamp.min(),
        last_order_at=orders.timestamp.max(),
    )
