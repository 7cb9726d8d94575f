"""The demo store's marketing: email and SMS campaigns and flows, and how people respond.

Campaign ids and sending days come from their own random stream (`make_messages`), so they are
the same for every chunk of people; sends, bounces, opens and clicks are drawn per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cdp_lib.demodata.behaviour import Sessions
from cdp_lib.demodata.calendar import HISTORY_DAYS, Calendar
from cdp_lib.demodata.events import BY_EMAIL, BY_PHONE, EventBlocks, next_after
from cdp_lib.demodata.orders import Orders
from cdp_lib.demodata.params import StoreParams
from cdp_lib.demodata.people import People


@dataclass
class Messages:
    """Every message the store sends (ids per message index) and when campaigns go out."""

    message_id: pa.Array
    campaign_id: pa.Array
    flow_id: pa.Array
    email_campaigns: list[tuple[float, float, list[int]]]  # (send day, audience share, messages)
    sms_campaigns: list[tuple[float, float, list[int]]]
    welcome: list[int]
    abandoned_cart_email: int
    abandoned_cart_sms: int


def make_messages(seed: int, calendar: Calendar) -> Messages:
    """Weekly email and three-weekly SMS campaigns plus holiday sends (some emails A/B split),
    the three-step welcome flow and the abandoned-cart flows."""
    rng = np.random.default_rng([seed, 2])
    ids, camps, flows = [], [], []

    def add(message_id, campaign_id, flow_id) -> int:
        ids.append(message_id)
        camps.append(campaign_id)
        flows.append(flow_id)
        return len(ids) - 1

    send_days = set(range(3, HISTORY_DAYS, 7)) | {int(d) for d in calendar.holiday_days()}
    email_campaigns = []
    for k, day in enumerate(sorted(send_days)):
        cid = f"EC-{k + 1:04d}"
        variants = ["A", "B"] if rng.random() < 0.3 else [""]
        msgs = [add(f"{cid}-{v}" if v else cid, cid, None) for v in variants]
        email_campaigns.append((day + 14 / 24, float(rng.uniform(0.25, 0.5)), msgs))
    sms_days = set(range(5, HISTORY_DAYS, 21)) | {int(d) for d in calendar.holiday_days()}
    sms_campaigns = []
    for k, day in enumerate(sorted(sms_days)):
        cid = f"SC-{k + 1:03d}"
        sms_campaigns.append((day + 17 / 24, float(rng.uniform(0.5, 0.8)), [add(cid, cid, None)]))
    welcome = [add(f"FLOW-WELCOME-{i}", None, "FLOW-WELCOME") for i in (1, 2, 3)]
    cart_email = add("FLOW-ABANDONED-CART-1", None, "FLOW-ABANDONED-CART")
    cart_sms = add("FLOW-SMS-ABANDONED-CART-1", None, "FLOW-SMS-ABANDONED-CART")
    return Messages(pa.array(ids, pa.string()), pa.array(camps, pa.string()),
                     pa.array(flows, pa.string()), email_campaigns, sms_campaigns, welcome,
                     cart_email, cart_sms)


def _by_phone(person: np.ndarray) -> np.ndarray:
    return np.full(person.size, BY_PHONE, np.int8)


def add_email(rng: np.random.Generator, ev: EventBlocks, people: People, orders: Orders, sessions: Sessions,
              messages: Messages, prm: StoreParams) -> tuple[np.ndarray, np.ndarray]:
    """Campaign, welcome-flow and abandoned-cart emails with bounces, opens and clicks.

    Returns the clicks as (person, time) arrays, for order attribution.
    """
    H = float(HISTORY_DAYS)
    n, created, email_ok, hard_bouncer, soft_bouncer, open_rate, click_rate = (
        people.n, people.created, people.email_ok, people.hard_bouncer, people.soft_bouncer, people.open_rate,
        people.click_rate)
    a_person, carted, cart_t = sessions.person, sessions.carted, sessions.cart_t
    o_person, o_t = orders.person, orders.t
    web_orders = ~orders.pos
    sends_p, sends_t, sends_m = [], [], []
    for send_t, share, msgs in messages.email_campaigns:
        who = np.flatnonzero(email_ok & (created < send_t) & (rng.random(n) < share))
        sends_p.append(who)
        sends_t.append(np.full(who.size, send_t) + rng.uniform(0, 0.02, who.size))
        sends_m.append(np.asarray(msgs)[rng.integers(len(msgs), size=who.size)])
    sub = np.flatnonzero(email_ok)
    for delay, msg in zip((0.01, 2.0, 5.0), messages.welcome):
        sends_p.append(sub)
        sends_t.append(created[sub] + delay)
        sends_m.append(np.full(sub.size, msg))
    ab = carted & email_ok[a_person]
    sends_p.append(a_person[ab])
    sends_t.append(cart_t[ab] + 4 / 24)
    sends_m.append(np.full(ab.sum(), messages.abandoned_cart_email))
    e_p, e_t, e_m = (np.concatenate(x) for x in (sends_p, sends_t, sends_m))
    inside = e_t < H
    e_p, e_t, e_m = e_p[inside], e_t[inside], e_m[inside]
    order = np.lexsort((e_t, e_p))
    e_p, e_t, e_m = e_p[order], e_t[order], e_m[order]
    # A hard bounce ends a person's emails; persistent soft bouncers (full mailbox) bounce on
    # every send; other sends bounce softly now and then.
    first_send = np.r_[True, e_p[1:] != e_p[:-1]]
    hard = hard_bouncer[e_p] & first_send
    dropped = hard_bouncer[e_p] & ~first_send
    soft = ~hard & ~dropped & (soft_bouncer[e_p] | (rng.random(e_p.size) < prm.random_soft_bounce_rate))
    bounce = np.where(hard, 1, np.where(soft, 0, -1))
    bounced = bounce >= 0
    ev.add("Bounced Email", e_p[bounced], e_t[bounced], BY_EMAIL, message=e_m[bounced],
           bounce=bounce[bounced], channel=0)
    got = ~bounced & ~dropped
    r_p, r_t, r_m = e_p[got], e_t[got], e_m[got]
    ev.add("Received Email", r_p, r_t, BY_EMAIL, message=r_m, channel=0)
    # Emails that arrive shortly before an order are opened and clicked far more often, so
    # last-touch attribution has real signal to find.
    next_order = next_after(o_person[web_orders], o_t[web_orders], r_p, r_t)
    soon = next_order - r_t < 5.0
    opened = rng.random(r_p.size) < np.where(soon, np.maximum(open_rate[r_p], 0.6), open_rate[r_p])
    gap = np.where(soon, next_order - r_t, 1.0)
    open_t = np.where(soon, r_t + rng.uniform(0.05, 0.8, r_p.size) * gap,
                      r_t + rng.exponential(0.25, r_p.size))
    ev.add("Opened Email", r_p[opened], open_t[opened], BY_EMAIL, message=r_m[opened], channel=0)
    clicked = opened & (rng.random(r_p.size) < np.where(soon, 0.55, click_rate[r_p]))
    click_t = np.where(soon, open_t + rng.uniform(0.0, 0.5, r_p.size) * (next_order - open_t),
                       open_t + rng.exponential(0.02, r_p.size))
    ev.add("Clicked Email", r_p[clicked], click_t[clicked], BY_EMAIL, message=r_m[clicked], channel=0)
    return r_p[clicked], click_t[clicked]


def add_sms(rng: np.random.Generator, ev: EventBlocks, people: People, orders: Orders, sessions: Sessions,
            messages: Messages) -> tuple[np.ndarray, np.ndarray]:
    """Campaign and abandoned-cart texts with clicks; returns the clicks as (person, time) arrays."""
    H = float(HISTORY_DAYS)
    n, created, sms_ok = people.n, people.created, people.sms_ok
    a_person, carted, cart_t = sessions.person, sessions.carted, sessions.cart_t
    o_person, o_t = orders.person, orders.t
    web_orders = ~orders.pos
    sp_, st_, sm_ = [], [], []
    for send_t, share, msgs in messages.sms_campaigns:
        who = np.flatnonzero(sms_ok & (created < send_t) & (rng.random(n) < share))
        sp_.append(who)
        st_.append(np.full(who.size, send_t) + rng.uniform(0, 0.01, who.size))
        sm_.append(np.full(who.size, msgs[0]))
    abs_ = carted & sms_ok[a_person]
    sp_.append(a_person[abs_])
    st_.append(cart_t[abs_] + 1 / 24)
    sm_.append(np.full(abs_.sum(), messages.abandoned_cart_sms))
    m_p, m_t, m_m = (np.concatenate(x) for x in (sp_, st_, sm_))
    inside = m_t < H
    m_p, m_t, m_m = m_p[inside], m_t[inside], m_m[inside]
    ev.add("Received SMS", m_p, m_t, _by_phone(m_p), message=m_m, channel=1)
    next_order = next_after(o_person[web_orders], o_t[web_orders], m_p, m_t)
    soon = next_order - m_t < 2.0
    sclick = rng.random(m_p.size) < np.where(soon, 0.5, 0.05)
    sclick_t = np.where(soon, m_t + rng.uniform(0, 0.7, m_p.size) * (next_order - m_t),
                        m_t + rng.exponential(0.02, m_p.size))
    ev.add("Clicked SMS", m_p[sclick], sclick_t[sclick], _by_phone(m_p[sclick]),
           message=m_m[sclick], channel=1)
    return m_p[sclick], sclick_t[sclick]
