"""The demo store's event vocabulary, and events collected as arrays then written as one table.

Every generating step adds blocks of events (`EventBlocks.add`) with codes instead of strings;
`events_table` sorts them by time, person and metric and spells every code out once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp_lib.demodata.calendar import DAY_US, HISTORY_DAYS, Calendar
from cdp_lib.demodata.catalog import Catalog

if TYPE_CHECKING:  # they build on this module
    from cdp_lib.demodata.campaigns import Messages
    from cdp_lib.demodata.people import People

METRICS = [
    "Placed Order", "Ordered Product", "Viewed Product", "Added to Cart", "Started Checkout",
    "Refunded Order", "Cancelled Order", "Received Email", "Opened Email", "Clicked Email",
    "Bounced Email", "Received SMS", "Clicked SMS", "Subscribed to List", "Created Account",
    "Tracked Order", "Started Return", "Applied Coupon", "Clicked Help", "Started Web Chat",
]
M = {name: i for i, name in enumerate(METRICS)}
SOURCES = ["web", "POS", "product page", "account page"]
SOURCE_NAMES = ["online store", "subscription", "retail store"]
CHANNELS = ["email", "sms", "direct", "organic search", "paid search", "paid social", "in store", "web"]
BOUNCES = ["soft", "hard"]
LISTS = ["Newsletter", "SMS Subscribers"]
COUPONS = ["WELCOME10", "BFCM25", "FREESHIP", "VIP15"]
# How an event names its person: email, external id, phone, or email and phone together.
BY_EMAIL, BY_EXTERNAL_ID, BY_PHONE, BY_EMAIL_AND_PHONE = 0, 1, 2, 3

EVENT_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("external_id", pa.string()), ("email", pa.string()),
    ("phone", pa.string()), ("metric", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
    ("value", pa.float64()), ("order_id", pa.string()), ("product_id", pa.string()),
    ("quantity", pa.float64()), ("price", pa.float64()), ("source", pa.string()),
    ("source_name", pa.string()), ("channel", pa.string()), ("campaign_id", pa.string()),
    ("flow_id", pa.string()), ("message_id", pa.string()), ("bounce_type", pa.string()),
    ("list_name", pa.string()), ("coupon_code", pa.string()),
])


_INT_COLUMNS = ("order", "product", "source", "source_name", "channel", "message", "bounce",
                "list", "coupon")
_FLOAT_COLUMNS = ("value", "quantity", "price")


class EventBlocks:
    """Collects events as parallel numpy arrays; missing properties become nulls."""

    def __init__(self):
        self.blocks: list[dict[str, np.ndarray]] = []

    def add(self, metric: str, person, t, kind, **cols) -> None:
        person = np.asarray(person, dtype=np.int64)
        n = person.size
        if n == 0:
            return
        block = {"person": person, "metric": np.full(n, M[metric], np.int16),
                 "t": np.broadcast_to(np.asarray(t, float), n),
                 "kind": np.broadcast_to(np.asarray(kind, np.int8), n)}
        for name in _INT_COLUMNS:
            block[name] = np.broadcast_to(np.asarray(cols.pop(name, -1), np.int64), n)
        for name in _FLOAT_COLUMNS:
            block[name] = np.broadcast_to(np.asarray(cols.pop(name, np.nan), float), n)
        if cols:
            raise TypeError(f"unknown event columns {sorted(cols)}")
        self.blocks.append(block)

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([b[k] for b in self.blocks]) for k in self.blocks[0]}


def next_after(persons, times, q_person, q_time):
    """For each query, the first (person, time) entry with the same person at or after q_time."""
    horizon = HISTORY_DAYS + 10.0
    keys = persons * horizon + times
    order = np.argsort(keys, kind="stable")
    skeys = keys[order]
    j = np.searchsorted(skeys, q_person * horizon + q_time, side="left")
    ok = j < skeys.size
    jj = np.minimum(j, max(skeys.size - 1, 0))
    found = ok & (persons[order][jj] == q_person) if skeys.size else np.zeros(q_person.size, bool)
    out = np.full(q_person.size, np.inf)
    out[found] = times[order][jj][found]
    return out


def last_before(persons, times, q_person, q_time):
    """For each query, the latest entry of the same person strictly before q_time (or -inf)."""
    horizon = HISTORY_DAYS + 10.0
    keys = persons * horizon + times
    order = np.argsort(keys, kind="stable")
    skeys = keys[order]
    j = np.searchsorted(skeys, q_person * horizon + q_time, side="left") - 1
    out = np.full(q_person.size, -np.inf)
    if skeys.size == 0:
        return out
    jj = np.maximum(j, 0)
    found = (j >= 0) & (persons[order][jj] == q_person)
    out[found] = times[order][jj][found]
    return out


def time_of_day(rng, day_t: np.ndarray, hour: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Move each time to a local hour near the person's habitual one (expressed in UTC days)."""
    local = (hour + rng.normal(0, 2.0, day_t.size)) % 24
    t = np.floor(day_t) + (local - offset) / 24.0
    # An evening in America is the next UTC day: past the end of the history, use the day
    # before instead of piling events onto the last instant.
    t = np.where(t >= HISTORY_DAYS, t - 1.0, np.where(t < 0.0, t + 1.0, t))
    return np.clip(t, 0.0, HISTORY_DAYS - 1e-6)


# -- one chunk of people -----------------------------------------------------------------------
def join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def take_where(values: pa.Array, idx: np.ndarray, mask: np.ndarray) -> pa.Array:
    """`values[idx]` where `mask`, null elsewhere."""
    return pc.take(values, pa.array(idx, mask=~mask))


def events_table(rng: np.random.Generator, ev: EventBlocks, people: People, calendar: Calendar, catalog: Catalog,
                 messages: Messages, event_base: int) -> pa.Table:
    """The events of one chunk of `people`, in time order, with ids from `event_base`.

    Events outside the history are dropped; identifiers are spelled the way the event's `kind`
    says (email, external id, phone or email and phone), with messy variants drawn here.
    """
    H = float(HISTORY_DAYS)
    n, ext_all, email_variants, phone_variants = people.n, people.ext_all, people.email_variants, people.phone_variants
    take = take_where
    e = ev.concat()
    keep = (e["t"] >= 0) & (e["t"] < H)
    e = {k: v[keep] for k, v in e.items()}
    order = np.lexsort((e["metric"], e["person"], e["t"]))
    e = {k: v[order] for k, v in e.items()}
    m = e["person"].size
    ts = calendar.start_us + np.round(e["t"] * DAY_US).astype(np.int64)
    kind = e["kind"]
    use_email = (kind == BY_EMAIL) | (kind == BY_EMAIL_AND_PHONE)
    use_phone = (kind == BY_PHONE) | (kind == BY_EMAIL_AND_PHONE)
    # Messy inputs: some events spell the email in capitals or with spaces around it, and
    # phones come formatted in the ways people type them.
    e_var = np.where(rng.random(m) < 0.04, 1, np.where(rng.random(m) < 0.03, 2, 0))
    p_var = rng.choice(3, size=m, p=[0.6, 0.25, 0.15])
    person = e["person"]

    def codes(vocab, c):
        return take(pa.array(vocab, pa.string()), c, c >= 0)

    def nan_null(x):
        return pa.array(x, mask=np.isnan(x))

    msg = e["message"]
    events = pa.table({
        "event_id": join("ev-", pa.array(event_base + np.arange(m)).cast(pa.string())),
        "external_id": take(ext_all, person, kind == BY_EXTERNAL_ID),
        "email": take(email_variants, person + e_var * n, use_email),
        "phone": take(phone_variants, person + p_var * n, use_phone),
        "metric": codes(METRICS, e["metric"].astype(np.int64)),
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "value": nan_null(e["value"]),
        "order_id": join("O-", take(pa.array(e["order"]).cast(pa.string()), np.arange(m), e["order"] >= 0)),
        "product_id": take(catalog.table["product_id"].combine_chunks(), e["product"], e["product"] >= 0),
        "quantity": nan_null(e["quantity"]),
        "price": nan_null(e["price"]),
        "source": codes(SOURCES, e["source"]),
        "source_name": codes(SOURCE_NAMES, e["source_name"]),
        "channel": codes(CHANNELS, e["channel"]),
        "campaign_id": take(messages.campaign_id, msg, msg >= 0),
        "flow_id": take(messages.flow_id, msg, msg >= 0),
        "message_id": take(messages.message_id, msg, msg >= 0),
        "bounce_type": codes(BOUNCES, e["bounce"]),
        "list_name": codes(LISTS, e["list"]),
        "coupon_code": codes(COUPONS, e["coupon"]),
    }, schema=EVENT_SCHEMA)
    return events
