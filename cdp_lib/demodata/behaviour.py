"""The demo store's behaviour outside orders: browsing sessions that end without an order
(abandoned carts and checkouts), list sign-ups, accounts and customer service contacts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cdp_lib.demodata.calendar import HISTORY_DAYS, Calendar
from cdp_lib.demodata.catalog import Catalog, pick_products
from cdp_lib.demodata.events import BY_EMAIL, BY_EMAIL_AND_PHONE, BY_EXTERNAL_ID, BY_PHONE, EventBlocks, time_of_day
from cdp_lib.demodata.people import People, web_kind


@dataclass
class Sessions:
    """Browsing sessions without an order: who, and which ended with an item in the cart when."""

    person: np.ndarray
    carted: np.ndarray
    cart_t: np.ndarray


def add_abandoned_sessions(rng: np.random.Generator, ev: EventBlocks, people: People, calendar: Calendar,
                           catalog: Catalog) -> Sessions:
    """Sessions at a rate that follows the purchase rate (buyers) or a small one (browsers):
    product views, some carts, fewer checkouts."""
    H = float(HISTORY_DAYS)
    n, created, is_buyer, lam, hour, offset, favourite = (
        people.n, people.created, people.is_buyer, people.lam, people.hour, people.offset, people.favourite)
    s_end = calendar.purchase_clock[-1]
    span = H - created
    rate = np.where(is_buyer, 1.0 * lam + 0.003, rng.gamma(1.0, 0.008, n))
    n_sessions = rng.poisson(rate * span)
    a_person = np.repeat(np.arange(n), n_sessions)
    a_s = calendar.to_purchase_time(created[a_person]) + rng.random(a_person.size) * (
        s_end - calendar.to_purchase_time(created[a_person]))
    a_t = time_of_day(rng, calendar.from_purchase_time(a_s), hour[a_person], offset[a_person])
    a_t = np.maximum(a_t, created[a_person])
    views = 1 + rng.poisson(1.0, a_person.size)
    v_session = np.repeat(np.arange(a_person.size), views)
    vp = a_person[v_session]
    v_product = pick_products(rng, catalog, favourite[vp])
    ev.add("Viewed Product", vp, a_t[v_session] + rng.uniform(0, 20, vp.size) / 1440, web_kind(rng, people, vp),
           product=v_product, price=catalog.price[v_product], source=0, channel=7)
    first_view = np.searchsorted(v_session, np.arange(a_person.size))
    carted = rng.random(a_person.size) < 0.3
    cart_t = a_t + rng.uniform(21, 30, a_person.size) / 1440
    c_product = v_product[first_view]
    ev.add("Added to Cart", a_person[carted], cart_t[carted], web_kind(rng, people, a_person[carted]),
           product=c_product[carted], price=catalog.price[c_product[carted]], quantity=1.0,
           value=catalog.price[c_product[carted]], source=2, channel=7)
    checkout = carted & (rng.random(a_person.size) < 0.35)
    ev.add("Started Checkout", a_person[checkout], cart_t[checkout] + 3 / 1440,
           web_kind(rng, people, a_person[checkout]), value=catalog.price[c_product[checkout]], quantity=1.0,
           source=0, channel=7)
    return Sessions(a_person, carted, cart_t)


def add_lists_accounts_service(rng: np.random.Generator, ev: EventBlocks, people: People) -> None:
    """Newsletter and SMS list sign-ups, account creation, help clicks and web chats."""
    H = float(HISTORY_DAYS)
    created, sms_ok, dual, has_ext, hour, offset = (
        people.created, people.sms_ok, people.dual, people.has_ext, people.hour, people.offset)
    span = H - created
    sub = np.flatnonzero(people.email_ok)
    ev.add("Subscribed to List", sub, created[sub] + 0.005, BY_EMAIL, list=0, channel=0)
    smsp = np.flatnonzero(sms_ok)
    sms_sub_t = np.minimum(created[smsp] + rng.uniform(0, 60, smsp.size), H - 1e-3)
    # A person with a second, phone-only record links it to their email when they sign up
    # for SMS: that event carries both identifiers and makes ingest merge the two profiles.
    ev.add("Subscribed to List", smsp, sms_sub_t,
           np.where(dual[smsp], BY_EMAIL_AND_PHONE, BY_PHONE).astype(np.int8), list=1, channel=1)
    acc = np.flatnonzero(has_ext)
    ev.add("Created Account", acc, created[acc] + 0.002, BY_EXTERNAL_ID, channel=7)
    for metric, per_year in (("Clicked Help", 0.5), ("Started Web Chat", 0.2)):
        k = rng.poisson(per_year * span[acc] / 365.0)
        hp = np.repeat(acc, k)
        ht = time_of_day(rng, created[hp] + rng.random(hp.size) * span[hp], hour[hp], offset[hp])
        ev.add(metric, hp, np.maximum(ht, created[hp]), web_kind(rng, people, hp), channel=7)
