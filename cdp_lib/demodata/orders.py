"""The demo store's orders: BG/NBD purchasing with Gamma-Gamma spend, line items, and the
events around each order (browsing and checkout before it; tracking, returns, refunds and
cancellations after it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cdp_lib.demodata.calendar import HISTORY_DAYS, Calendar
from cdp_lib.demodata.catalog import Catalog, pick_products, products_near_price
from cdp_lib.demodata.events import BY_PHONE, COUPONS, EventBlocks, last_before, time_of_day
from cdp_lib.demodata.params import StoreParams
from cdp_lib.demodata.people import People, web_kind


@dataclass
class Orders:
    """One chunk's orders, sorted by person and time, with their line items."""

    t_first: np.ndarray  # per person: first order time (days since the start; may lie past the end)
    alive_at_end: np.ndarray  # per person: still a customer when the history ends
    per_person: np.ndarray  # per person: number of orders
    n: int
    person: np.ndarray
    t: np.ndarray
    value: np.ndarray
    pos: np.ndarray  # placed in a shop
    sub: np.ndarray  # subscription renewal
    number: np.ndarray  # global order number
    source: np.ndarray
    source_name: np.ndarray
    kind: np.ndarray  # how the order's events name the person
    # line items
    l_order: np.ndarray  # order index of each line
    l_qty: np.ndarray
    units: np.ndarray  # per order
    l_product: np.ndarray
    l_price: np.ndarray
    l_value: np.ndarray


def draw_orders(rng: np.random.Generator, people: People, calendar: Calendar, catalog: Catalog,
                prm: StoreParams, order_base: int) -> Orders:
    """Orders by BG/NBD in the purchase clock, their values and line items (numbers from `order_base`)."""
    H = float(HISTORY_DAYS)
    n, created, is_buyer, p_drop, lam, nu = (
        people.n, people.created, people.is_buyer, people.p_drop, people.lam, people.nu)
    hour, offset, pos_shopper, subscriber = people.hour, people.offset, people.pos_shopper, people.subscriber
    has_phone, favourite = people.has_phone, people.favourite
    t_first = created + rng.exponential(prm.first_order_mean_days, n)
    s_end = calendar.purchase_clock[-1]
    s_first = calendar.to_purchase_time(np.minimum(t_first, H))
    active = np.flatnonzero(is_buyer & (t_first < H))
    cur = s_first[active]
    owners, stimes = [], []
    alive_at_end = np.zeros(n, bool)
    while active.size:
        owners.append(active)
        stimes.append(cur)
        stays = rng.random(active.size) >= p_drop[active]
        nxt = cur + rng.exponential(1.0, active.size) / lam[active]
        alive_at_end[active[stays & (nxt >= s_end)]] = True
        keep = stays & (nxt < s_end)
        active, cur = active[keep], nxt[keep]
    o_person = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    o_day = calendar.from_purchase_time(np.concatenate(stimes)) if stimes else np.zeros(0)
    o_t = time_of_day(rng, o_day, hour[o_person], offset[o_person])
    sort = np.lexsort((o_t, o_person))
    o_person, o_t = o_person[sort], o_t[sort]
    n_orders = o_person.size
    orders_per_person = np.bincount(o_person, minlength=n)
    o_value = np.maximum(np.round(rng.gamma(prm.p, 1.0 / nu[o_person]), 2), 1.0)
    o_pos = rng.random(n_orders) < np.where(pos_shopper[o_person], 0.6, 0.03)
    o_sub = ~o_pos & subscriber[o_person] & (rng.random(n_orders) < 0.8)
    o_number = order_base + np.arange(n_orders)
    o_source = np.where(o_pos, 1, 0)
    o_source_name = np.where(o_pos, 2, np.where(o_sub, 1, 0))
    o_kind = web_kind(rng, people, o_person)
    pos_kind = np.where(has_phone[o_person], BY_PHONE, o_kind)
    o_kind = np.where(o_pos, pos_kind, o_kind).astype(np.int8)

    # Line items: products priced near the order value spread over its units.
    lines = 1 + np.minimum(rng.poisson(0.8, n_orders), 5)
    lines = np.maximum(lines, np.ceil(o_value / 160).astype(int)).clip(max=8)
    l_order = np.repeat(np.arange(n_orders), lines)
    l_qty = np.where(rng.random(l_order.size) < 0.85, 1, np.where(rng.random(l_order.size) < 0.8, 2, 3))
    units = np.bincount(l_order, weights=l_qty, minlength=n_orders)
    l_product = products_near_price(rng, catalog, favourite[o_person[l_order]],
                                    o_value[l_order] / units[l_order])
    l_price = catalog.price[l_product]
    l_value = np.round(l_price * l_qty, 2)
    return Orders(t_first, alive_at_end, orders_per_person, n_orders, o_person, o_t, o_value, o_pos, o_sub, o_number,
                  o_source, o_source_name, o_kind, l_order, l_qty, units, l_product, l_price, l_value)


def add_order_journeys(rng: np.random.Generator, ev: EventBlocks, people: People, orders: Orders,
                       catalog: Catalog, prm: StoreParams) -> None:
    """Browsing, cart, checkout and coupons before each order and its products; tracking,
    returns, refunds and cancellations after it."""
    favourite, has_ext = people.favourite, people.has_ext
    n_orders, o_person, o_t, o_pos, o_sub, o_value = (
        orders.n, orders.person, orders.t, orders.pos, orders.sub, orders.value)
    o_number, o_source, o_source_name, o_kind = orders.number, orders.source, orders.source_name, orders.kind
    l_order, l_qty, units, l_product, l_price, l_value = (
        orders.l_order, orders.l_qty, orders.units, orders.l_product, orders.l_price, orders.l_value)
    l_person, l_t = o_person[l_order], o_t[l_order]
    session = ~o_pos & ~o_sub
    s_lines = session[l_order]
    lp, lt = l_person[s_lines], l_t[s_lines]
    ev.add("Viewed Product", lp, lt - rng.uniform(5, 40, lp.size) / 1440, web_kind(rng, people, lp),
           product=l_product[s_lines], price=l_price[s_lines], source=0, channel=7)
    extra = rng.poisson(0.7, session.sum())
    so = np.repeat(np.flatnonzero(session), extra)
    ep = o_person[so]
    ev.add("Viewed Product", ep, o_t[so] - rng.uniform(10, 60, so.size) / 1440, web_kind(rng, people, ep),
           product=pick_products(rng, catalog, favourite[ep]), source=0, channel=7,
           price=np.nan)
    cart_source = np.where(has_ext[lp] & (rng.random(lp.size) < 0.15), 3, 2)
    ev.add("Added to Cart", lp, lt - rng.uniform(2, 10, lp.size) / 1440, web_kind(rng, people, lp),
           product=l_product[s_lines], price=l_price[s_lines], quantity=l_qty[s_lines],
           value=l_value[s_lines], source=cart_source, channel=7)
    order_lines_value = np.bincount(l_order, weights=l_value, minlength=n_orders)
    sp = o_person[session]
    ev.add("Started Checkout", sp, o_t[session] - rng.uniform(0.5, 3, sp.size) / 1440,
           web_kind(rng, people, sp), value=np.round(order_lines_value[session], 2),
           quantity=units[session], order=o_number[session], source=0, channel=7)
    coupon = session & (rng.random(n_orders) < 0.18)
    cp = o_person[coupon]
    ev.add("Applied Coupon", cp, o_t[coupon] - rng.uniform(0.1, 0.4, cp.size) / 1440, web_kind(rng, people, cp),
           order=o_number[coupon], coupon=rng.integers(len(COUPONS), size=cp.size), channel=7)
    ev.add("Ordered Product", l_person, l_t, o_kind[l_order], order=o_number[l_order],
           product=l_product, quantity=l_qty, price=l_price, value=l_value,
           source=o_source[l_order], source_name=o_source_name[l_order])

    # After the order: tracking, returns, refunds, cancellations.
    u = rng.random(n_orders)
    cancelled = u < prm.cancel_rate
    returned = (u >= prm.cancel_rate) & (u < prm.cancel_rate + prm.return_rate)
    refund_direct = (u >= prm.cancel_rate + prm.return_rate) & (
        u < prm.cancel_rate + prm.return_rate + prm.refund_without_return)
    web = ~o_pos
    tracked = web & ~cancelled & (rng.random(n_orders) < 0.3)
    tp = o_person[tracked]
    ev.add("Tracked Order", tp, o_t[tracked] + rng.uniform(1, 5, tp.size), web_kind(rng, people, tp),
           order=o_number[tracked], channel=7)
    rp = o_person[returned]
    return_t = o_t[returned] + rng.uniform(3, 20, rp.size)
    ev.add("Started Return", rp, return_t, web_kind(rng, people, rp), order=o_number[returned], channel=7)
    refund_after = rng.random(rp.size) < prm.refund_after_return
    refunded = np.concatenate([np.flatnonzero(returned)[refund_after], np.flatnonzero(refund_direct)])
    refund_t = np.concatenate([return_t[refund_after] + rng.uniform(2, 8, refund_after.sum()),
                               o_t[refund_direct] + rng.uniform(2, 30, refund_direct.sum())])
    share = np.where(rng.random(refunded.size) < 0.7, 1.0, rng.uniform(0.2, 0.8, refunded.size))
    ev.add("Refunded Order", o_person[refunded], refund_t, o_kind[refunded],
           order=o_number[refunded], value=np.round(o_value[refunded] * share, 2),
           source=o_source[refunded], source_name=o_source_name[refunded])
    cp = o_person[cancelled]
    ev.add("Cancelled Order", cp, o_t[cancelled] + rng.uniform(0.01, 0.1, cp.size),
           o_kind[cancelled], order=o_number[cancelled], value=o_value[cancelled],
           source=o_source[cancelled], source_name=o_source_name[cancelled])


def add_placed_orders(rng: np.random.Generator, ev: EventBlocks, orders: Orders, email_clicks, sms_clicks) -> None:
    """The `Placed Order` events, each with its channel: the last email or SMS click within two
    days, otherwise where the visit came from (web) or the shop (POS).

    `email_clicks` and `sms_clicks` are (person, time) arrays of the chunk's clicks.
    """
    n_orders, o_person, o_t, o_pos, o_kind, o_value = (
        orders.n, orders.person, orders.t, orders.pos, orders.kind, orders.value)
    o_number, units, o_source, o_source_name = orders.number, orders.units, orders.source, orders.source_name
    last_email = last_before(*email_clicks, o_person, o_t)
    last_sms = last_before(*sms_clicks, o_person, o_t)
    visit = rng.choice([2, 3, 4, 5], size=n_orders, p=[0.4, 0.3, 0.15, 0.15])
    o_channel = np.where(o_pos, 6, visit)
    touched = ~o_pos & (np.maximum(last_email, last_sms) > o_t - 2.0)
    o_channel = np.where(touched, np.where(last_email >= last_sms, 0, 1), o_channel)
    ev.add("Placed Order", o_person, o_t, o_kind, value=o_value, order=o_number,
           quantity=units, source=o_source, source_name=o_source_name, channel=o_channel)
