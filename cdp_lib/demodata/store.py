"""The synthetic store: profiles, events and catalog with known ground truth.

People are generated in fixed-size chunks, each from its own random stream derived from
(seed, chunk number), and written to the output files chunk by chunk, so memory stays flat at
any scale and the same seed always gives the same files. Every step is vectorised with numpy;
strings are assembled with pyarrow compute kernels.

The generating processes and their parameters are documented in docs/demo-data.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp_lib.demodata import reference as ref
from cdp_lib.demodata.writer import TableWriter, file_name

CHUNK_PROFILES = 20_000
HISTORY_DAYS = 730
DAY_US = 86_400_000_000


@dataclass(frozen=True)
class StoreParams:
    """Parameters of the generating processes (rates per day, money in dollars)."""

    # BG/NBD purchasing (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
    # purchase rate lambda ~ Gamma(shape r, rate alpha) per day while alive; after every
    # purchase the customer drops out for good with probability p ~ Beta(a, b).
    r: float = 0.9
    alpha: float = 60.0
    a: float = 0.8
    b: float = 3.0
    # Gamma-gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999):
    # order value ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate gamma); mean order
    # value p * gamma / (q - 1) = 100 dollars.
    p: float = 6.0
    q: float = 4.0
    gamma: float = 50.0
    buyer_share: float = 0.6  # people who ever place an order (the rest only browse / read)
    first_order_mean_days: float = 5.0  # sign-up to first order, exponential
    email_consent_share: float = 0.78
    phone_share: float = 0.7
    sms_consent_share: float = 0.45  # of people with a phone
    account_share: float = 0.8  # people with a store account (an external_id)
    dual_identity_share: float = 0.03  # of people with a phone: a second, phone-only record
    pos_shopper_share: float = 0.2
    subscriber_share: float = 0.07  # of buyers: subscription orders
    return_rate: float = 0.06
    refund_after_return: float = 0.75
    refund_without_return: float = 0.01
    cancel_rate: float = 0.01
    hard_bounce_share: float = 0.003
    persistent_soft_bounce_share: float = 0.004
    random_soft_bounce_rate: float = 0.003


PARAMS = StoreParams()

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
PROFILE_SCHEMA = pa.schema([
    ("external_id", pa.string()), ("email", pa.string()), ("phone", pa.string()),
    ("first_name", pa.string()), ("last_name", pa.string()), ("city", pa.string()),
    ("region", pa.string()), ("country", pa.string()), ("zip", pa.string()),
    ("latitude", pa.float64()), ("longitude", pa.float64()), ("timezone", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")), ("email_consent", pa.string()),
    ("sms_consent", pa.string()), ("signup_source", pa.string()), ("loyalty_tier", pa.string()),
    ("mobile", pa.string()), ("sms_phone", pa.string()),
])
TRUTH_SCHEMA = pa.schema([
    ("person", pa.int64()), ("external_id", pa.string()), ("email", pa.string()),
    ("gender", pa.string()), ("is_buyer", pa.bool_()), ("purchase_rate_per_day", pa.float64()),
    ("dropout_probability", pa.float64()), ("spend_rate", pa.float64()),
    ("expected_order_value", pa.float64()), ("orders", pa.int64()),
    ("alive_at_end", pa.bool_()), ("dual_identity", pa.bool_()),
    ("persistent_soft_bounce", pa.bool_()), ("favourite_category", pa.string()),
])


@dataclass
class StoreSummary:
    """What `generate_store` wrote."""

    out_dir: Path
    files: dict[str, Path]
    profiles: int  # people
    profile_rows: int  # rows in the profiles file (people with two records appear twice)
    events: int
    products: int
    start: dt.datetime
    end: dt.datetime  # exclusive end of the calendar: midnight after the end date
    until: dt.datetime | None = None  # the data stops here: min(end, the moment of generation)


# -- calendar ----------------------------------------------------------------------------------
def _thanksgiving(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    first_thursday = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + dt.timedelta(weeks=3)


def _holiday_multiplier(start: dt.date, days: int) -> np.ndarray:
    """Shopping intensity per day: 1 normally, Black Friday to Cyber Monday up to 5x."""
    m = np.ones(days)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    boost = {}
    for year in {d.year for d in dates}:
        black_friday = _thanksgiving(year) + dt.timedelta(days=1)
        for offset, factor in [(-1, 1.5), (0, 5.0), (1, 3.0), (2, 3.0), (3, 4.5), (4, 2.0)]:
            boost[black_friday + dt.timedelta(days=offset)] = factor
    for i, d in enumerate(dates):
        if d in boost:
            m[i] = boost[d]
        elif d.month == 12 and d.day <= 20:
            m[i] = 1.4
    return m


class _Calendar:
    """Maps between real days since the start and 'operational' time of the processes."""

    def __init__(self, end_date: dt.date):
        self.start_date = end_date - dt.timedelta(days=HISTORY_DAYS - 1)
        self.start = dt.datetime.combine(self.start_date, dt.time(), tzinfo=dt.timezone.utc)
        self.end = self.start + dt.timedelta(days=HISTORY_DAYS)  # exclusive
        self.start_us = int(self.start.timestamp()) * 1_000_000
        self.days = np.arange(HISTORY_DAYS + 1, dtype=float)
        m = _holiday_multiplier(self.start_date, HISTORY_DAYS)
        self.multiplier = m
        self.purchase_clock = np.concatenate([[0.0], np.cumsum(m)])
        # Sign-ups grow over the two years and bump (less) on the holidays.
        signup = np.sqrt(m) * (0.5 + np.arange(HISTORY_DAYS) / HISTORY_DAYS)
        self.signup_clock = np.concatenate([[0.0], np.cumsum(signup)])

    def to_purchase_time(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.days, self.purchase_clock)

    def from_purchase_time(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self.purchase_clock, self.days)

    def random_signup_days(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n) * self.signup_clock[-1]
        return np.interp(u, self.signup_clock, self.days)

    def holiday_days(self) -> np.ndarray:
        return np.flatnonzero(self.multiplier >= 4.5)


# -- catalog -----------------------------------------------------------------------------------
@dataclass
class _Catalog:
    table: pa.Table
    category: np.ndarray  # category index per product, products sorted by (category, price)
    price: np.ndarray
    categories: list[str]
    cat_start: np.ndarray
    cat_end: np.ndarray
    popularity_key: np.ndarray  # category + cumulative popularity within it, for sampling
    price_key: np.ndarray  # category * 100 + log(price), for nearest-price lookups


def _make_catalog(seed: int) -> _Catalog:
    rng = np.random.default_rng([seed, 1])
    rows = []
    categories = list(ref.PRODUCT_TYPES)
    for ci, category in enumerate(categories):
        for ptype, lo, hi in ref.PRODUCT_TYPES[category]:
            brands = rng.choice(len(ref.BRANDS), size=3, replace=False)
            for bi in brands:
                for style in rng.choice(len(ref.STYLES), size=3, replace=False):
                    colour = ref.COLOURS[rng.integers(len(ref.COLOURS))]
                    price = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 0) - 0.01
                    name = f"{ref.BRANDS[bi]} {ref.STYLES[style]} {ptype} - {colour}"
                    rows.append((ci, price, name, category, ref.BRANDS[bi], ptype, colour))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    category = np.array([r[0] for r in rows])
    price = np.array([r[1] for r in rows])
    n = len(rows)
    table = pa.table({
        "product_id": [f"SKU-{1001 + i}" for i in range(n)],
        "name": [r[2] for r in rows],
        "category": [r[3] for r in rows],
        "brand": [r[4] for r in rows],
        "price": price,
        "product_type": [r[5] for r in rows],
        "colour": [r[6] for r in rows],
    })
    cat_start = np.searchsorted(category, np.arange(len(categories)), side="left")
    cat_end = np.searchsorted(category, np.arange(len(categories)), side="right")
    # Zipf-like popularity inside each category.
    weight = 1.0 / (1.0 + rng.permutation(n) % 12) ** 0.8
    key = np.empty(n)
    for c in range(len(categories)):
        s, e = cat_start[c], cat_end[c]
        w = np.cumsum(weight[s:e])
        key[s:e] = c + w / w[-1]
    return _Catalog(table, category, price, categories, cat_start, cat_end, key,
                    category * 100.0 + np.log(price))


def _pick_products(rng, cat: _Catalog, favourite: np.ndarray, loyalty: float = 0.6) -> np.ndarray:
    """One product per entry: from the person's favourite category with prob. `loyalty`."""
    n = favourite.size
    other = rng.integers(len(cat.categories), size=n)
    c = np.where(rng.random(n) < loyalty, favourite, other)
    idx = np.searchsorted(cat.popularity_key, c + rng.random(n), side="left")
    return np.minimum(idx, cat.cat_end[c] - 1)


def _products_near_price(rng, cat: _Catalog, favourite: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A product whose price is close to `target`, usually in the favourite category."""
    n = favourite.size
    c = np.where(rng.random(n) < 0.6, favourite, rng.integers(len(cat.categories), size=n))
    lo, hi = cat.cat_start[c], cat.cat_end[c] - 1
    key = c * 100.0 + np.log(np.maximum(target, 0.5)) + rng.normal(0, 0.15, n)
    j = np.clip(np.searchsorted(cat.price_key, key), lo, hi)
    left = np.maximum(j - 1, lo)
    closer_left = np.abs(cat.price_key[left] - key) < np.abs(cat.price_key[j] - key)
    return np.where(closer_left, left, j)


# -- campaigns and flows -----------------------------------------------------------------------
@dataclass
class _Messages:
    message_id: pa.Array
    campaign_id: pa.Array
    flow_id: pa.Array
    email_campaigns: list[tuple[float, float, list[int]]]  # (send day, audience share, messages)
    sms_campaigns: list[tuple[float, float, list[int]]]
    welcome: list[int]
    abandoned_cart_email: int
    abandoned_cart_sms: int


def _make_messages(seed: int, calendar: _Calendar) -> _Messages:
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
    return _Messages(pa.array(ids, pa.string()), pa.array(camps, pa.string()),
                     pa.array(flows, pa.string()), email_campaigns, sms_campaigns, welcome,
                     cart_email, cart_sms)


# -- event accumulation ------------------------------------------------------------------------
_INT_COLUMNS = ("order", "product", "source", "source_name", "channel", "message", "bounce",
                "list", "coupon")
_FLOAT_COLUMNS = ("value", "quantity", "price")


class _EventBlocks:
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


def _next_after(persons, times, q_person, q_time):
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


def _last_before(persons, times, q_person, q_time):
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


def _time_of_day(rng, day_t: np.ndarray, hour: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Move each time to a local hour near the person's habitual one (expressed in UTC days)."""
    local = (hour + rng.normal(0, 2.0, day_t.size)) % 24
    t = np.floor(day_t) + (local - offset) / 24.0
    # An evening in America is the next UTC day: past the end of the history, use the day
    # before instead of piling events onto the last instant.
    t = np.where(t >= HISTORY_DAYS, t - 1.0, np.where(t < 0.0, t + 1.0, t))
    return np.clip(t, 0.0, HISTORY_DAYS - 1e-6)


# -- one chunk of people -----------------------------------------------------------------------
def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _chunk(seed: int, chunk_no: int, first: int, n: int, calendar: _Calendar, catalog: _Catalog,
           messages: _Messages, prm: StoreParams, event_base: int, order_base: int):
    rng = np.random.default_rng([seed, 3, chunk_no])
    H = float(HISTORY_DAYS)
    g = np.arange(first, first + n, dtype=np.int64)  # global person number

    # People ------------------------------------------------------------------------------
    fn_idx = rng.integers(len(ref.FIRST_NAMES), size=n)
    ln_idx = rng.integers(len(ref.LAST_NAMES), size=n)
    first_names = pa.array([f for f, _ in ref.FIRST_NAMES])
    genders = pa.array([s for _, s in ref.FIRST_NAMES])
    last_names = pa.array(ref.LAST_NAMES)
    last_plain = pa.array([s.replace("'", "") for s in ref.LAST_NAMES])
    fn = pc.take(first_names, fn_idx)
    ln = pc.take(last_names, ln_idx)
    gstr = pa.array(g).cast(pa.string())
    domain = pc.take(pa.array(ref.EMAIL_DOMAINS), rng.integers(len(ref.EMAIL_DOMAINS), size=n))
    email = pc.utf8_lower(_join(fn, ".", pc.take(last_plain, ln_idx), gstr, "@", domain))
    has_ext = rng.random(n) < prm.account_share
    ext_all = _join("C", pc.utf8_lpad(pa.array(g + 1).cast(pa.string()), 8, "0"))
    external_id = pc.if_else(pa.array(has_ext), ext_all, pa.nulls(n, pa.string()))

    weights = np.array([c[7] for c in ref.CITIES])
    city = rng.choice(len(ref.CITIES), size=n, p=weights / weights.sum())
    col = lambda i: [c[i] for c in ref.CITIES]  # noqa: E731
    offset = np.array(col(6), float)[city]
    lat = np.round(np.array(col(3))[city] + rng.normal(0, 0.03, n), 5)
    lon = np.round(np.array(col(4))[city] + rng.normal(0, 0.04, n), 5)
    zips_flat = [z for c in ref.CITIES for z in c[8]]
    zip_start = np.cumsum([0] + [len(c[8]) for c in ref.CITIES])[:-1]
    zip_count = np.array([len(c[8]) for c in ref.CITIES])
    zip_idx = zip_start[city] + (rng.random(n) * zip_count[city]).astype(int)

    has_phone = rng.random(n) < prm.phone_share
    suffix = pc.utf8_lpad(pa.array((g * 7919 + 1_234_567) % 10_000_000).cast(pa.string()), 7, "0")
    prefix = pc.take(pa.array(col(9)), city)
    # Country code and area code of each city's prefix ("+1617" -> "+1", "617").
    cc_len = [2 if p.startswith("+1") else 4 if p.startswith("+353") else 3 for p in col(9)]
    cc = pc.take(pa.array([p[:k] for p, k in zip(col(9), cc_len)]), city)
    area = pc.take(pa.array([p[k:] for p, k in zip(col(9), cc_len)]), city)
    s3, s4 = pc.utf8_slice_codeunits(suffix, 0, 3), pc.utf8_slice_codeunits(suffix, 3)
    phone_e164 = _join(prefix, suffix)
    phone_variants = pa.concat_arrays([
        phone_e164,
        _join(cc, " (", area, ") ", s3, "-", s4),
        _join(cc, ".", area, ".", s3, ".", s4),
    ])
    email_variants = pa.concat_arrays([email, pc.utf8_upper(email), _join("  ", email, " ")])

    created = calendar.random_signup_days(rng, n)
    email_ok = rng.random(n) < prm.email_consent_share
    sms_ok = has_phone & (rng.random(n) < prm.sms_consent_share)
    dual = has_phone & (rng.random(n) < prm.dual_identity_share)
    sms_ok |= dual  # their phone-only record comes from an SMS sign-up
    hour = np.clip(rng.normal(19, 3.5, n), 6, 23.5)
    favourite = rng.integers(len(catalog.categories), size=n)
    is_buyer = rng.random(n) < prm.buyer_share
    lam = rng.gamma(prm.r, 1.0 / prm.alpha, n)
    p_drop = rng.beta(prm.a, prm.b, n)
    nu = rng.gamma(prm.q, 1.0 / prm.gamma, n)
    pos_shopper = rng.random(n) < prm.pos_shopper_share
    subscriber = rng.random(n) < prm.subscriber_share
    open_rate = rng.beta(2.0, 5.0, n)
    click_rate = rng.beta(1.5, 10.0, n)
    hard_bouncer = rng.random(n) < prm.hard_bounce_share
    soft_bouncer = ~hard_bouncer & (rng.random(n) < prm.persistent_soft_bounce_share)

    ev = _EventBlocks()

    def web_kind(person):
        """Web activity names the person by email or, for account holders, external id."""
        by_ext = has_ext[person] & (rng.random(person.size) < 0.5)
        return np.where(by_ext, BY_EXTERNAL_ID, BY_EMAIL).astype(np.int8)

    # Orders: BG/NBD in the purchase clock -------------------------------------------------
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
    o_t = _time_of_day(rng, o_day, hour[o_person], offset[o_person])
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
    o_kind = web_kind(o_person)
    pos_kind = np.where(has_phone[o_person], BY_PHONE, o_kind)
    o_kind = np.where(o_pos, pos_kind, o_kind).astype(np.int8)

    # Line items: products priced near the order value spread over its units.
    lines = 1 + np.minimum(rng.poisson(0.8, n_orders), 5)
    lines = np.maximum(lines, np.ceil(o_value / 160).astype(int)).clip(max=8)
    l_order = np.repeat(np.arange(n_orders), lines)
    l_qty = np.where(rng.random(l_order.size) < 0.85, 1, np.where(rng.random(l_order.size) < 0.8, 2, 3))
    units = np.bincount(l_order, weights=l_qty, minlength=n_orders)
    l_product = _products_near_price(rng, catalog, favourite[o_person[l_order]],
                                     o_value[l_order] / units[l_order])
    l_price = catalog.price[l_product]
    l_value = np.round(l_price * l_qty, 2)
    l_person, l_t = o_person[l_order], o_t[l_order]

    # Browsing that leads to the order (web orders other than subscription renewals).
    session = ~o_pos & ~o_sub
    s_lines = session[l_order]
    lp, lt = l_person[s_lines], l_t[s_lines]
    ev.add("Viewed Product", lp, lt - rng.uniform(5, 40, lp.size) / 1440, web_kind(lp),
           product=l_product[s_lines], price=l_price[s_lines], source=0, channel=7)
    extra = rng.poisson(0.7, session.sum())
    so = np.repeat(np.flatnonzero(session), extra)
    ep = o_person[so]
    ev.add("Viewed Product", ep, o_t[so] - rng.uniform(10, 60, so.size) / 1440, web_kind(ep),
           product=_pick_products(rng, catalog, favourite[ep]), source=0, channel=7,
           price=np.nan)
    cart_source = np.where(has_ext[lp] & (rng.random(lp.size) < 0.15), 3, 2)
    ev.add("Added to Cart", lp, lt - rng.uniform(2, 10, lp.size) / 1440, web_kind(lp),
           product=l_product[s_lines], price=l_price[s_lines], quantity=l_qty[s_lines],
           value=l_value[s_lines], source=cart_source, channel=7)
    order_lines_value = np.bincount(l_order, weights=l_value, minlength=n_orders)
    sp = o_person[session]
    ev.add("Started Checkout", sp, o_t[session] - rng.uniform(0.5, 3, sp.size) / 1440,
           web_kind(sp), value=np.round(order_lines_value[session], 2),
           quantity=units[session], order=o_number[session], source=0, channel=7)
    coupon = session & (rng.random(n_orders) < 0.18)
    cp = o_person[coupon]
    ev.add("Applied Coupon", cp, o_t[coupon] - rng.uniform(0.1, 0.4, cp.size) / 1440, web_kind(cp),
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
    ev.add("Tracked Order", tp, o_t[tracked] + rng.uniform(1, 5, tp.size), web_kind(tp),
           order=o_number[tracked], channel=7)
    rp = o_person[returned]
    return_t = o_t[returned] + rng.uniform(3, 20, rp.size)
    ev.add("Started Return", rp, return_t, web_kind(rp), order=o_number[returned], channel=7)
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

    # Browsing that does not end in an order (abandoned sessions) ----------------------------
    span = H - created
    rate = np.where(is_buyer, 1.0 * lam + 0.003, rng.gamma(1.0, 0.008, n))
    n_sessions = rng.poisson(rate * span)
    a_person = np.repeat(np.arange(n), n_sessions)
    a_s = calendar.to_purchase_time(created[a_person]) + rng.random(a_person.size) * (
        s_end - calendar.to_purchase_time(created[a_person]))
    a_t = _time_of_day(rng, calendar.from_purchase_time(a_s), hour[a_person], offset[a_person])
    a_t = np.maximum(a_t, created[a_person])
    views = 1 + rng.poisson(1.0, a_person.size)
    v_session = np.repeat(np.arange(a_person.size), views)
    vp = a_person[v_session]
    v_product = _pick_products(rng, catalog, favourite[vp])
    ev.add("Viewed Product", vp, a_t[v_session] + rng.uniform(0, 20, vp.size) / 1440, web_kind(vp),
           product=v_product, price=catalog.price[v_product], source=0, channel=7)
    first_view = np.searchsorted(v_session, np.arange(a_person.size))
    carted = rng.random(a_person.size) < 0.3
    cart_t = a_t + rng.uniform(21, 30, a_person.size) / 1440
    c_product = v_product[first_view]
    ev.add("Added to Cart", a_person[carted], cart_t[carted], web_kind(a_person[carted]),
           product=c_product[carted], price=catalog.price[c_product[carted]], quantity=1.0,
           value=catalog.price[c_product[carted]], source=2, channel=7)
    checkout = carted & (rng.random(a_person.size) < 0.35)
    ev.add("Started Checkout", a_person[checkout], cart_t[checkout] + 3 / 1440,
           web_kind(a_person[checkout]), value=catalog.price[c_product[checkout]], quantity=1.0,
           source=0, channel=7)

    # Email: campaigns and flows, bounces, opens and clicks ----------------------------------
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
    web_orders = ~o_pos
    next_order = _next_after(o_person[web_orders], o_t[web_orders], r_p, r_t)
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

    # SMS -----------------------------------------------------------------------------------
    sms_kind = lambda p: np.full(p.size, BY_PHONE, np.int8)  # noqa: E731
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
    ev.add("Received SMS", m_p, m_t, sms_kind(m_p), message=m_m, channel=1)
    next_order = _next_after(o_person[web_orders], o_t[web_orders], m_p, m_t)
    soon = next_order - m_t < 2.0
    sclick = rng.random(m_p.size) < np.where(soon, 0.5, 0.05)
    sclick_t = np.where(soon, m_t + rng.uniform(0, 0.7, m_p.size) * (next_order - m_t),
                        m_t + rng.exponential(0.02, m_p.size))
    ev.add("Clicked SMS", m_p[sclick], sclick_t[sclick], sms_kind(m_p[sclick]),
           message=m_m[sclick], channel=1)

    # Channel of each order: the last email or SMS click within two days, otherwise where the
    # visit came from (web) or the shop (POS).
    last_email = _last_before(r_p[clicked], click_t[clicked], o_person, o_t)
    last_sms = _last_before(m_p[sclick], sclick_t[sclick], o_person, o_t)
    visit = rng.choice([2, 3, 4, 5], size=n_orders, p=[0.4, 0.3, 0.15, 0.15])
    o_channel = np.where(o_pos, 6, visit)
    touched = ~o_pos & (np.maximum(last_email, last_sms) > o_t - 2.0)
    o_channel = np.where(touched, np.where(last_email >= last_sms, 0, 1), o_channel)
    ev.add("Placed Order", o_person, o_t, o_kind, value=o_value, order=o_number,
           quantity=units, source=o_source, source_name=o_source_name, channel=o_channel)

    # Lists, accounts, service --------------------------------------------------------------
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
        ht = _time_of_day(rng, created[hp] + rng.random(hp.size) * span[hp], hour[hp], offset[hp])
        ev.add(metric, hp, np.maximum(ht, created[hp]), web_kind(hp), channel=7)

    # Assemble the events table ---------------------------------------------------------------
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

    def take(values, idx, mask):
        return pc.take(values, pa.array(idx, mask=~mask))

    def codes(vocab, c):
        return take(pa.array(vocab, pa.string()), c, c >= 0)

    def nan_null(x):
        return pa.array(x, mask=np.isnan(x))

    msg = e["message"]
    events = pa.table({
        "event_id": _join("ev-", pa.array(event_base + np.arange(m)).cast(pa.string())),
        "external_id": take(ext_all, person, kind == BY_EXTERNAL_ID),
        "email": take(email_variants, person + e_var * n, use_email),
        "phone": take(phone_variants, person + p_var * n, use_phone),
        "metric": codes(METRICS, e["metric"].astype(np.int64)),
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "value": nan_null(e["value"]),
        "order_id": _join("O-", take(pa.array(e["order"]).cast(pa.string()), np.arange(m), e["order"] >= 0)),
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

    # Profiles table: one record per person, plus a phone-only shop record for dual people --
    created_us = calendar.start_us + np.round(created * DAY_US).astype(np.int64)
    consent_yes = pa.array(["subscribed", "yes", "true"])
    consent_no = pa.array(["unsubscribed", "no", "false"])
    word = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    email_consent = pc.if_else(pa.array(email_ok), pc.take(consent_yes, word), pc.take(consent_no, word))
    sms_word = pc.if_else(pa.array(sms_ok), pa.scalar("yes"), pa.scalar("no"))
    sms_consent = pc.if_else(pa.array(has_phone | dual), sms_word, pa.nulls(n, pa.string()))
    p_email_var = np.where(rng.random(n) < 0.02, 1, np.where(rng.random(n) < 0.02, 2, 0))
    p_phone_var = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    idx = np.arange(n)
    tiers = pa.array(["none", "silver", "gold"])
    tier = np.where(is_buyer, rng.choice(3, size=n, p=[0.6, 0.3, 0.1]), 0)
    signup_sources = pa.array(["web", "popup", "checkout", "pos"])
    signup = rng.choice(4, size=n, p=[0.5, 0.25, 0.15, 0.1])
    # Extra numbers some shops keep (inputs of the shipped phone merge transform); their own
    # random stream, so every other column is the same as before they were added.
    extra = np.random.default_rng([seed, 13, chunk_no])
    has_mobile = extra.random(n) < 0.25
    has_sms_phone = extra.random(n) < 0.15
    main = pa.table({
        "external_id": external_id,
        "email": pc.take(email_variants, idx + p_email_var * n),
        # A dual person's main record has no phone: the phone lives on the shop record.
        "phone": take(phone_variants, idx + p_phone_var * n, has_phone & ~dual),
        "first_name": fn, "last_name": ln,
        "city": pc.take(pa.array(col(0)), city), "region": pc.take(pa.array(col(1)), city),
        "country": pc.take(pa.array(col(2)), city), "zip": pc.take(pa.array(zips_flat), zip_idx),
        "latitude": lat, "longitude": lon, "timezone": pc.take(pa.array(col(5)), city),
        "created_at": pa.array(created_us, pa.timestamp("us", tz="UTC")),
        "email_consent": email_consent,
        "sms_consent": pc.if_else(pa.array(dual), pa.nulls(n, pa.string()), sms_consent),
        "signup_source": pc.take(signup_sources, signup),
        "loyalty_tier": pc.take(tiers, tier),
        "mobile": take(phone_variants, idx + n, has_mobile),
        "sms_phone": take(phone_variants, idx + 2 * n, has_sms_phone),
    }, schema=PROFILE_SCHEMA)
    d = np.flatnonzero(dual)
    shop = pa.table({
        "external_id": pa.nulls(d.size, pa.string()),
        "email": pa.nulls(d.size, pa.string()),
        "phone": pc.take(phone_variants, d + n),
        "first_name": pc.take(fn, d), "last_name": pc.take(ln, d),
        "city": pc.take(main["city"], d), "region": pc.take(main["region"], d),
        "country": pc.take(main["country"], d), "zip": pc.take(main["zip"], d),
        "latitude": lat[d], "longitude": lon[d], "timezone": pc.take(main["timezone"], d),
        "created_at": pc.take(main["created_at"], d),
        "email_consent": pa.nulls(d.size, pa.string()),
        "sms_consent": pa.array(["subscribed"] * d.size, pa.string()),
        "signup_source": pa.array(["pos"] * d.size, pa.string()),
        "loyalty_tier": pa.array(["none"] * d.size, pa.string()),
        "mobile": pa.nulls(d.size, pa.string()),
        "sms_phone": pa.nulls(d.size, pa.string()),
    }, schema=PROFILE_SCHEMA)
    profiles = pa.concat_tables([main, shop])

    truth = pa.table({
        "person": g, "external_id": external_id, "email": email,
        "gender": pc.take(genders, fn_idx), "is_buyer": is_buyer & (t_first < H),
        "purchase_rate_per_day": lam, "dropout_probability": p_drop, "spend_rate": nu,
        "expected_order_value": prm.p / nu, "orders": orders_per_person.astype(np.int64),
        "alive_at_end": alive_at_end, "dual_identity": dual,
        "persistent_soft_bounce": soft_bouncer & email_ok,
        "favourite_category": pc.take(pa.array(catalog.categories), favourite),
    }, schema=TRUTH_SCHEMA)
    return profiles, events, truth, n_orders


def _until(cutoff: dt.datetime, n: int, profiles: pa.Table, events: pa.Table,
           truth: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Leave out what happens after `cutoff`: later events, and people who sign up later (their
    profile records and ground truth). The first `n` profile rows are the people, in truth order."""
    limit = pa.scalar(cutoff, pa.timestamp("us", tz="UTC"))
    events = events.filter(pc.less_equal(events["timestamp"], limit))
    signed_up = pc.less_equal(profiles["created_at"], limit)
    truth = truth.filter(signed_up.slice(0, n))
    return profiles.filter(signed_up), events, truth


def generate_store(out_dir, profiles: int, seed: int = 42, end_date=None, fmt: str = "parquet",
                   progress: Callable[[int, int], None] | None = None,
                   params: StoreParams = PARAMS, generated_at: dt.datetime | None = None) -> StoreSummary:
    """Write a synthetic store (`profiles.*`, `events.*`, `catalog.*`, `truth.parquet`).

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing); existing files of the same names are replaced.
    profiles
        Number of people. About 50 events per person on average.
    seed
        Same seed and end date give byte-identical files.
    end_date
        Last day of the history (a date or ISO string; default today, UTC). The history covers
        the 730 days up to and including it, but never goes past `generated_at`.
    fmt
        'parquet', 'csv' or 'jsonl' for the three tables; the ground truth is always Parquet.
    progress
        Called as ``progress(people_done, people_total)`` after each chunk.
    generated_at
        The moment of generation (default: the wall clock, UTC). No event and no sign-up after
        it is written, so a store generated today has no event in the future. Ids are assigned
        before the cut, so the events that are written keep the same ids whenever the store is
        generated.
    """
    from cdp_lib.errors import InputError

    if not isinstance(profiles, (int, np.integer)) or profiles < 1:
        raise InputError(f"profiles must be a positive whole number, got {profiles!r}")
    if end_date is None:
        end_date = dt.datetime.now(dt.timezone.utc).date()
    elif isinstance(end_date, str):
        try:
            end_date = dt.date.fromisoformat(end_date)
        except ValueError:
            raise InputError(f"end date {end_date!r} is not a date; write it as YYYY-MM-DD") from None
    elif isinstance(end_date, dt.datetime):
        end_date = end_date.date()
    now = dt.datetime.now(dt.timezone.utc) if generated_at is None else generated_at
    if now.tzinfo is None:
        raise InputError(f"generated_at {now!r} has no time zone; give a UTC datetime")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calendar = _Calendar(end_date)
    cutoff = min(calendar.end - dt.timedelta(microseconds=1), now.astimezone(dt.timezone.utc))
    catalog = _make_catalog(seed)
    messages = _make_messages(seed, calendar)
    files = {name: out / file_name(name, fmt) for name in ("profiles", "events", "catalog")}
    files["truth"] = out / "truth.parquet"
    with TableWriter(files["catalog"], catalog.table.schema, fmt) as w:
        w.write(catalog.table)
    event_rows = profile_rows = people = 0
    event_base = orders = 0
    with TableWriter(files["profiles"], PROFILE_SCHEMA, fmt) as wp, \
            TableWriter(files["events"], EVENT_SCHEMA, fmt) as we, \
            TableWriter(files["truth"], TRUTH_SCHEMA, "parquet") as wt:
        for chunk_no, first in enumerate(range(0, int(profiles), CHUNK_PROFILES)):
            n = min(CHUNK_PROFILES, int(profiles) - first)
            p_tab, e_tab, t_tab, n_orders = _chunk(seed, chunk_no, first, n, calendar, catalog,
                                                   messages, params, event_base, orders)
            event_base += e_tab.num_rows  # ids do not depend on the cut
            p_tab, e_tab, t_tab = _until(cutoff, n, p_tab, e_tab, t_tab)
            wp.write(p_tab)
            we.write(e_tab)
            wt.write(t_tab)
            event_rows += e_tab.num_rows
            profile_rows += p_tab.num_rows
            people += t_tab.num_rows
            orders += n_orders
            if progress is not None:
                progress(first + n, int(profiles))
    return StoreSummary(out, files, people, profile_rows, event_rows,
                        catalog.table.num_rows, calendar.start, calendar.end, cutoff)
