"""The demo store's people: who they are, how they can be reached, and how they behave.

Everything about a person is drawn once per chunk, in one fixed order from the chunk's random
stream (`draw_people`); the other steps read these arrays and draw what they need after it.
The `profiles` records and the ground truth are built from them at the end of a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp_lib.demodata import reference as ref
from cdp_lib.demodata.calendar import DAY_US, Calendar
from cdp_lib.demodata.catalog import Catalog
from cdp_lib.demodata.events import BY_EMAIL, BY_EXTERNAL_ID, join, take_where
from cdp_lib.demodata.params import StoreParams

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


def _city_column(i: int) -> list:
    return [c[i] for c in ref.CITIES]


@dataclass
class People:
    """One chunk of people: arrays indexed by person number within the chunk."""

    n: int
    g: np.ndarray  # global person number
    fn_idx: np.ndarray
    fn: pa.Array  # first name
    ln: pa.Array  # last name
    email: pa.Array
    has_ext: np.ndarray  # has a store account (an external id)
    ext_all: pa.Array  # the external id each person would have
    external_id: pa.Array
    city: np.ndarray
    offset: np.ndarray  # UTC offset of the city, hours
    lat: np.ndarray
    lon: np.ndarray
    zip_idx: np.ndarray
    has_phone: np.ndarray
    phone_variants: pa.Array  # 3n: E.164, "(617) 555-0100" style, dotted
    email_variants: pa.Array  # 3n: as is, capitals, padded with spaces
    created: np.ndarray  # sign-up, days since the start
    email_ok: np.ndarray
    sms_ok: np.ndarray
    dual: np.ndarray  # also has a second, phone-only record
    hour: np.ndarray  # habitual local hour of activity
    favourite: np.ndarray  # favourite category
    is_buyer: np.ndarray
    lam: np.ndarray  # purchase rate per day while alive
    p_drop: np.ndarray  # drop-out probability after each purchase
    nu: np.ndarray  # spend rate (order value ~ Gamma(p, nu))
    pos_shopper: np.ndarray
    subscriber: np.ndarray
    open_rate: np.ndarray
    click_rate: np.ndarray
    hard_bouncer: np.ndarray
    soft_bouncer: np.ndarray


def draw_people(rng: np.random.Generator, first: int, n: int, calendar: Calendar, catalog: Catalog,
                prm: StoreParams) -> People:
    """People `first` .. `first + n - 1`: names, contacts, places, consent and behaviour rates."""
    g = np.arange(first, first + n, dtype=np.int64)  # global person number
    fn_idx = rng.integers(len(ref.FIRST_NAMES), size=n)
    ln_idx = rng.integers(len(ref.LAST_NAMES), size=n)
    first_names = pa.array([f for f, _ in ref.FIRST_NAMES])
    last_names = pa.array(ref.LAST_NAMES)
    last_plain = pa.array([s.replace("'", "") for s in ref.LAST_NAMES])
    fn = pc.take(first_names, fn_idx)
    ln = pc.take(last_names, ln_idx)
    gstr = pa.array(g).cast(pa.string())
    domain = pc.take(pa.array(ref.EMAIL_DOMAINS), rng.integers(len(ref.EMAIL_DOMAINS), size=n))
    email = pc.utf8_lower(join(fn, ".", pc.take(last_plain, ln_idx), gstr, "@", domain))
    has_ext = rng.random(n) < prm.account_share
    ext_all = join("C", pc.utf8_lpad(pa.array(g + 1).cast(pa.string()), 8, "0"))
    external_id = pc.if_else(pa.array(has_ext), ext_all, pa.nulls(n, pa.string()))

    weights = np.array([c[7] for c in ref.CITIES])
    city = rng.choice(len(ref.CITIES), size=n, p=weights / weights.sum())
    col = _city_column
    offset = np.array(col(6), float)[city]
    lat = np.round(np.array(col(3))[city] + rng.normal(0, 0.03, n), 5)
    lon = np.round(np.array(col(4))[city] + rng.normal(0, 0.04, n), 5)
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
    phone_e164 = join(prefix, suffix)
    phone_variants = pa.concat_arrays([
        phone_e164,
        join(cc, " (", area, ") ", s3, "-", s4),
        join(cc, ".", area, ".", s3, ".", s4),
    ])
    email_variants = pa.concat_arrays([email, pc.utf8_upper(email), join("  ", email, " ")])

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
    return People(n, g, fn_idx, fn, ln, email, has_ext, ext_all, external_id, city, offset, lat, lon, zip_idx,
                  has_phone, phone_variants, email_variants, created, email_ok, sms_ok, dual, hour, favourite,
                  is_buyer, lam, p_drop, nu, pos_shopper, subscriber, open_rate, click_rate, hard_bouncer,
                  soft_bouncer)


def web_kind(rng: np.random.Generator, people: People, person: np.ndarray) -> np.ndarray:
    """Web activity names the person by email or, for account holders, external id."""
    by_ext = people.has_ext[person] & (rng.random(person.size) < 0.5)
    return np.where(by_ext, BY_EXTERNAL_ID, BY_EMAIL).astype(np.int8)


def profiles_table(rng: np.random.Generator, seed: int, chunk_no: int, people: People,
                   calendar: Calendar) -> pa.Table:
    """Profile records: one per person, plus a phone-only shop record for dual people."""
    n, created, email_ok, sms_ok, has_phone, dual = (
        people.n, people.created, people.email_ok, people.sms_ok, people.has_phone, people.dual)
    is_buyer, external_id, email_variants, phone_variants = (
        people.is_buyer, people.external_id, people.email_variants, people.phone_variants)
    fn, ln, city, zip_idx, lat, lon = people.fn, people.ln, people.city, people.zip_idx, people.lat, people.lon
    col = _city_column
    zips_flat = [z for c in ref.CITIES for z in c[8]]
    take = take_where
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
    return pa.concat_tables([main, shop])


def truth_table(people: People, prm: StoreParams, catalog: Catalog, buyer: np.ndarray,
                orders_per_person: np.ndarray, alive_at_end: np.ndarray) -> pa.Table:
    """The ground truth per person: the hidden rates and what the processes made of them.

    `buyer` marks the people whose first order falls inside the history.
    """
    genders = pa.array([s for _, s in ref.FIRST_NAMES])
    return pa.table({
        "person": people.g, "external_id": people.external_id, "email": people.email,
        "gender": pc.take(genders, people.fn_idx), "is_buyer": buyer,
        "purchase_rate_per_day": people.lam, "dropout_probability": people.p_drop, "spend_rate": people.nu,
        "expected_order_value": prm.p / people.nu, "orders": orders_per_person.astype(np.int64),
        "alive_at_end": alive_at_end, "dual_identity": people.dual,
        "persistent_soft_bounce": people.soft_bouncer & people.email_ok,
        "favourite_category": pc.take(pa.array(catalog.categories), people.favourite),
    }, schema=TRUTH_SCHEMA)
