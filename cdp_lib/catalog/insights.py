"""Catalog insights: repeat purchase timing, bought in the same cart, bought in the next order.

Rules (docs/catalog.md has examples):

* Purchases: `Ordered Product` lines that carry an `order_id` and a `product_id`, grouped into
  orders by `order_id`. An order's time is its earliest line, its customer the smallest profile_id of its lines.
  Orders in the lookback window count: from the start of `as_of - (lookback_days - 1)` to the
  end of `as_of` (UTC, both days included). An order with a `Refunded Order` or `Cancelled
  Order` event of the same `order_id` at or before the as-of moment is left out entirely.
  A product bought twice in one order is one purchase.
* A customer's orders are ranked by (time, order_id); the *next order* of an order is the one
  after it in that ranking. Days between two orders are UTC calendar days between their dates.
* Repeat timing of a product: `buyers` = customers with a purchase of it; for each purchase the
  days to that customer's next order of anything; `repeat_buyers_90d` = customers with at least
  one purchase followed by a next order within `repeat_window_days` (days <= 90);
  `median_days_to_next_order` = median of those days over such purchases. The histogram counts
  the same purchases in weekly buckets (`week` = days // 7).
* Same cart: `orders_together` = orders containing both products, `orders_with_product` =
  orders containing the product, `co_purchase_rate` = their ratio; the `top_n` other products
  by `orders_together` (ties: smaller id first).
* Next order: for each order containing the product that has a next order, the products of that
  next order. `customers` = customers with such a pair, `rate` = customers / customers who
  bought the product and ordered again afterwards, `median_days` = median days between the two
  orders over the (order, next order) pairs; the product itself may appear (bought again). Top
  `top_n` by `customers` (ties: smaller id first).
* Per category: the same rules with a product's catalog `category` in place of its id
  (products with no category are left out of the category tables).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from cdp_lib import schema
from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError
from cdp_lib.params import Params
from cdp_lib.prerequisites import as_of_end
from cdp_lib.workspace import Workspace

LOOKBACK_DAYS = 730
REPEAT_WINDOW_DAYS = 90
TOP_N = 10
EXCLUDED_METRICS = (schema.REFUNDED_ORDER, schema.CANCELLED_ORDER)


@dataclass(frozen=True)
class CatalogParams(Params):
    """Validated catalog-insights request; build it with `catalog_params(...)`."""

    BUILDER: ClassVar[str] = "catalog_params"
    WHERE: ClassVar[str] = "catalog-insights parameters"

    as_of: dt.date
    lookback_days: int = LOOKBACK_DAYS
    repeat_window_days: int = REPEAT_WINDOW_DAYS
    top_n: int = TOP_N

    @property
    def first_day(self) -> dt.date:
        return self.as_of - dt.timedelta(days=self.lookback_days - 1)


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name}: expected a whole number >= {minimum}, got {value!r}")
    return value


def catalog_params(as_of: Any = None, lookback_days: int = LOOKBACK_DAYS,
                   repeat_window_days: int = REPEAT_WINDOW_DAYS, top_n: int = TOP_N) -> CatalogParams:
    """Check the parameters; `as_of` None means today (UTC)."""
    day = parse_date(as_of, "as_of") or dt.datetime.now(dt.timezone.utc).date()
    return CatalogParams(day, _whole("lookback_days", lookback_days, 1),
                         _whole("repeat_window_days", repeat_window_days, 0), _whole("top_n", top_n, 1))


def _start(day: dt.date) -> ibis.Scalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day), timezone="UTC")


# -- shared inputs ---------------------------------------------------------------------------
def orders_table(ws: Workspace, params: CatalogParams) -> ir.Table:
    """Kept orders in the window with their next order: profile_id, order_id, ordered_at,
    next_order_id, days_to_next (null for a customer's last order)."""
    ev = ws.events
    end = ibis.literal(as_of_end(params.as_of))
    bad = ev.filter(ev.metric.isin(list(EXCLUDED_METRICS)) & ev.order_id.notnull() & (ev.timestamp <= end))
    bad = bad.select("order_id").distinct()
    lines = ev.filter((ev.metric == schema.ORDERED_PRODUCT) & ev.order_id.notnull() & ev.product_id.notnull()
                      & (ev.timestamp <= end))
    lines = lines.anti_join(bad, "order_id")
    orders = lines.group_by("order_id").aggregate(profile_id=lines.profile_id.min(), ordered_at=lines.timestamp.min())
    orders = orders.filter(orders.ordered_at >= _start(params.first_day))
    w = ibis.window(group_by="profile_id", order_by=["ordered_at", "order_id"])
    orders = orders.mutate(next_order_id=orders.order_id.lead().over(w), next_at=orders.ordered_at.lead().over(w))
    return orders.select(
        "profile_id", "order_id", "ordered_at", "next_order_id",
        days_to_next=orders.next_at.date().delta(orders.ordered_at.date(), unit="day").cast("int64"),
    )


def purchases_table(ws: Workspace, params: CatalogParams, orders: ir.Table | None = None,
                    by: str = "product") -> ir.Table:
    """Distinct (order, item) purchases of kept orders: profile_id, order_id, ordered_at,
    next_order_id, days_to_next, item (the product id, or its category when `by='category'`)."""
    if by not in ("product", "category"):
        raise InputError(f"by: expected 'product' or 'category', got {by!r}")
    orders = orders_table(ws, params) if orders is None else orders
    ev = ws.events
    end = ibis.literal(as_of_end(params.as_of))
    lines = ev.filter((ev.metric == schema.ORDERED_PRODUCT) & ev.order_id.notnull() & ev.product_id.notnull()
                      & (ev.timestamp <= end))
    lines = lines.select("order_id", item=lines.product_id)
    if by == "category":
        cat = ws.catalog
        cat = cat.filter(cat.category.notnull()).select(_pid=cat.product_id, _cat=cat.category)
        lines = lines.join(cat, lines.item == cat._pid).select("order_id", item=cat._cat)
    lines = lines.distinct()
    joined = orders.join(lines, "order_id")
    return joined.select("profile_id", "order_id", "ordered_at", "next_order_id", "days_to_next", "item")


def _top(table: ir.Table, key: str, by: str, other: str, n: int) -> ir.Table:
    ranked = table.mutate(_rank=ibis.row_number().over(group_by=key, order_by=[ibis.desc(by), other]))
    return ranked.filter(ranked._rank < n).drop("_rank")


# -- the three cards ---------------------------------------------------------------------------
def repeat_timing_table(purchases: ir.Table, params: CatalogParams, key: str = "product_id") -> ir.Table:
    """Per item: buyers, repeat_buyers_90d, repeat_share_90d, median_days_to_next_order."""
    p = purchases
    within = p.days_to_next.notnull() & (p.days_to_next <= params.repeat_window_days)
    out = p.group_by(p.item).aggregate(
        buyers=p.profile_id.nunique(),
        repeat_buyers_90d=p.profile_id.nunique(where=within),
        median_days_to_next_order=p.days_to_next.median(where=within).cast("float64"),
    )
    out = out.mutate(repeat_share_90d=out.repeat_buyers_90d.cast("float64") / out.buyers)
    return out.select(**{key: out.item}, buyers=out.buyers.cast("int64"),
                      repeat_buyers_90d=out.repeat_buyers_90d.cast("int64"),
                      repeat_share_90d=out.repeat_share_90d,
                      median_days_to_next_order=out.median_days_to_next_order).order_by(key)


def timing_histogram_table(purchases: ir.Table, params: CatalogParams, key: str = "product_id") -> ir.Table:
    """Per item and week (days // 7) of the next order within the window: purchases."""
    p = purchases
    p = p.filter(p.days_to_next.notnull() & (p.days_to_next <= params.repeat_window_days))
    out = p.group_by([p.item, (p.days_to_next // 7).cast("int64").name("week")]).aggregate(purchases=p.count())
    return out.select(**{key: out.item}, week=out.week, purchases=out.purchases.cast("int64")).order_by([key, "week"])


def same_cart_table(purchases: ir.Table, params: CatalogParams, key: str = "product_id") -> ir.Table:
    """Per item and other item bought in the same order: orders_together, orders_with_product,
    co_purchase_rate; the top `top_n` per item."""
    a = purchases.select(_o="order_id", _a="item")
    b = purchases.select(_o2="order_id", _b="item")
    pairs = a.join(b, [a._o == b._o2, a._a != b._b])
    together = pairs.group_by(["_a", "_b"]).aggregate(orders_together=pairs.count())
    base = purchases.group_by(_k="item").aggregate(orders_with_product=purchases.order_id.nunique())
    out = together.join(base, together._a == base._k)
    out = out.select(**{key: out._a, f"other_{key}": out._b},
                     orders_together=out.orders_together.cast("int64"),
                     orders_with_product=out.orders_with_product.cast("int64"),
                     co_purchase_rate=out.orders_together.cast("float64") / out.orders_with_product)
    out = _top(out, key, "orders_together", f"other_{key}", params.top_n)
    return out.order_by([key, ibis.desc("orders_together"), f"other_{key}"])


def next_order_pairs_table(purchases: ir.Table) -> ir.Table:
    """Every (item, next item) with customers, rate and median_days, untruncated."""
    first = purchases.filter(purchases.next_order_id.notnull())
    first = first.select(_p="profile_id", _o="order_id", _n="next_order_id", _d="days_to_next", _a="item")
    second = purchases.select(_o2="order_id", _b="item")
    pairs = first.join(second, first._n == second._o2)
    per = pairs.group_by(["_a", "_b"]).aggregate(customers=pairs._p.nunique(), median_days=pairs._d.median())
    base = first.group_by(_k="_a").aggregate(_returning=first._p.nunique())
    out = per.join(base, per._a == base._k)
    return out.select(item=out._a, next_item=out._b, customers=out.customers.cast("int64"),
                      rate=out.customers.cast("float64") / out._returning,
                      median_days=out.median_days.cast("float64"))


def next_order_table(purchases: ir.Table, params: CatalogParams, key: str = "product_id") -> ir.Table:
    """Per item, the `top_n` items of the next order: customers, rate, median_days."""
    pairs = next_order_pairs_table(purchases)
    nxt = "next_product_id" if key == "product_id" else f"next_{key}"
    out = pairs.select(**{key: pairs.item, nxt: pairs.next_item}, customers=pairs.customers,
                       rate=pairs.rate, median_days=pairs.median_days)
    out = _top(out, key, "customers", nxt, params.top_n)
    return out.order_by([key, ibis.desc("customers"), nxt])
