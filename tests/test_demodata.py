"""Tests for the synthetic demo store, the CDNOW conversion and `cdp demo-data`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdp_lib import Workspace
from cdp_lib.cli import main as cli_main
from cdp_lib.demodata import generate_store, read_cdnow, write_cdnow
from cdp_lib.demodata.calendar import thanksgiving
from cdp_lib.demodata.events import METRICS
from cdp_lib.errors import InputError
from cdp_lib.orders import customer_orders_table
from cdp_lib.prerequisites import check_prerequisites


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def raw_events(demo_store_files) -> pd.DataFrame:
    return pd.read_parquet(demo_store_files / "events.parquet")


@pytest.fixture(scope="module")
def truth(demo_store_files) -> pd.DataFrame:
    return pd.read_parquet(demo_store_files / "truth.parquet")


@pytest.fixture(scope="module")
def store_ws(demo_store_path):
    ws = Workspace(demo_store_path, read_only=True)
    yield ws
    ws.close()


# -- generator ----------------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        generate_store(tmp_path / name, 400, seed=seed, end_date="2024-12-31")
    for f in ("profiles.parquet", "events.parquet", "catalog.parquet", "truth.parquet"):
        assert digest(tmp_path / "a" / f) == digest(tmp_path / "b" / f)
    assert digest(tmp_path / "a" / "events.parquet") != digest(tmp_path / "c" / "events.parquet")


def content_digest(table: pa.Table) -> str:
    """SHA-256 of a table's column names and values (timestamps as integer microseconds), so it
    does not depend on how a pyarrow version lays out the Parquet file."""
    h = hashlib.sha256()
    for name in table.column_names:
        column = table[name]
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        h.update(name.encode())
        h.update(json.dumps(column.to_pylist()).encode())
    return h.hexdigest()


# Taken from the generator before it was split into modules (issue 17); any edit that changes
# what a seed generates changes these. Intended changes update them and say why in the commit.
PINNED_300 = {
    "profiles": "4776c5deb5b5d12e5cb4d75c62ff77c5141bc2838935579d6dc346a7c47bb10f",
    "events": "17bcd4e114352675e5cbac652c555e4e001df5b36798788f9a9c1936cde51e27",
    "catalog": "41cbec055b025565d667a52ae9f3456b5f2820837a48c9517dd8fac102c49eaf",
    "truth": "c3c3f02951e575607ff26b6fca51e8bb589b8bcbee89ddca250425d72b920fff",
}


def test_small_store_is_pinned_by_counts_and_content_digest(tmp_path):
    summary = generate_store(tmp_path, 300, seed=7, end_date="2024-06-30")
    assert (summary.profiles, summary.profile_rows, summary.events, summary.products) == (300, 306, 15104, 180)
    tables = {name: pq.read_table(tmp_path / f"{name}.parquet") for name in PINNED_300}
    assert tables["events"]["metric"].to_pylist().count("Placed Order") == 500
    assert {name: content_digest(t) for name, t in tables.items()} == PINNED_300


def test_requested_scale_and_history_window(demo_store_files, raw_events, truth):
    profiles = pd.read_parquet(demo_store_files / "profiles.parquet")
    assert len(truth) == 3000 and truth.person.tolist() == list(range(3000))
    # One row per person plus one phone-only shop record per person with two identities.
    assert len(profiles) == 3000 + truth.dual_identity.sum()
    assert 40 <= len(raw_events) / 3000 <= 70
    assert raw_events.event_id.is_unique
    first, last = raw_events.timestamp.min(), raw_events.timestamp.max()
    assert first >= pd.Timestamp("2023-07-02", tz="UTC")
    assert last < pd.Timestamp("2025-07-01", tz="UTC")
    assert last > pd.Timestamp("2025-06-29", tz="UTC")


def test_every_event_type_is_present(raw_events):
    assert set(raw_events.metric) == set(METRICS)
    counts = raw_events.metric.value_counts()
    assert counts.min() >= 10


def test_events_identify_people_like_real_exports(raw_events):
    ids = raw_events[["external_id", "email", "phone"]].notna()
    assert ids.any(axis=1).all()  # every event names its person somehow
    assert "profile_id" not in raw_events.columns
    assert ids.email.mean() > 0.4 and ids.external_id.mean() > 0.1 and ids.phone.mean() > 0.03
    emails = raw_events.email.dropna()
    assert (emails != emails.str.strip()).sum() > 0  # padded
    assert (emails.str.strip() != emails.str.strip().str.lower()).sum() > 0  # capitals
    phones = raw_events.phone.dropna()
    assert phones.str.contains(r"[ ().-]").sum() > 0 and phones.str.fullmatch(r"\+\d+").sum() > 0


def test_profiles_carry_consent_words_and_places(demo_store_files):
    p = pd.read_parquet(demo_store_files / "profiles.parquet")
    assert {"yes", "no", "subscribed", "unsubscribed"} <= set(p.email_consent.dropna())
    assert {"yes", "no"} <= set(p.sms_consent.dropna())
    assert {"US", "CA", "GB"} <= set(p.country)
    assert {"MA", "NH", "VT", "ME", "RI", "CT"} <= set(p[p.country == "US"].region)
    assert {"ON", "QC", "BC"} <= set(p[p.country == "CA"].region)
    # A Boston cluster: people within 10 miles (haversine) of Boston City Hall.
    lat, lon = np.radians(p.latitude), np.radians(p.longitude)
    b_lat, b_lon = np.radians(42.3601), np.radians(-71.0589)
    h = np.sin((lat - b_lat) / 2) ** 2 + np.cos(lat) * np.cos(b_lat) * np.sin((lon - b_lon) / 2) ** 2
    miles = 2 * 3958.8 * np.arcsin(np.sqrt(h))
    assert (miles <= 10).sum() >= 200
    assert p.timezone.notna().all()


def test_funnel_steps_shrink_and_orderers_came_through_the_funnel(store_ws):
    ev = store_ws.events
    steps = ["Viewed Product", "Added to Cart", "Started Checkout", "Placed Order"]
    people = {m: set(ev.filter(ev.metric == m).profile_id.execute()) for m in steps}
    sizes = [len(people[m]) for m in steps]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] > 0
    web = ev.filter((ev.metric == "Placed Order") & (ev.source == "web")
                    & (ev.source_name == "online store"))
    web_buyers = set(web.profile_id.execute())
    assert web_buyers <= people["Started Checkout"] <= people["Viewed Product"] | people["Added to Cart"]
    # Drop-off: far fewer people check out than view.
    assert sizes[2] < 0.9 * sizes[0]


def test_black_friday_spike(raw_events):
    orders = raw_events[raw_events.metric == "Placed Order"]
    per_day = orders.timestamp.dt.date.value_counts()
    black_friday = thanksgiving(2024) + dt.timedelta(days=1)
    assert black_friday == dt.date(2024, 11, 29)
    weekend = sum(per_day.get(black_friday + dt.timedelta(days=i), 0) for i in range(4))
    november = [per_day.get(dt.date(2024, 11, d), 0) for d in range(1, 21)]
    assert weekend / 4 > 2 * np.mean(november)


def test_persistent_soft_bounces(store_ws, truth):
    ev = store_ws.events
    soft = ev.filter((ev.metric == "Bounced Email") & (ev.bounce_type == "soft"))
    per_person = soft.group_by("profile_id").agg(n=soft.count()).execute()
    assert (per_person.n >= 7).sum() >= 3
    assert truth.persistent_soft_bounce.sum() >= (per_person.n >= 7).sum() > 0
    hard = ev.filter((ev.metric == "Bounced Email") & (ev.bounce_type == "hard")).count().execute()
    assert hard > 0


def test_orders_refunds_and_channels(raw_events):
    orders = raw_events[raw_events.metric == "Placed Order"]
    assert orders.order_id.is_unique and (orders.value > 0).all()
    assert {"web", "POS"} == set(orders.source)
    assert "subscription" in set(orders.source_name)
    assert {"email", "sms", "in store"} <= set(orders.channel)
    refunds = raw_events[raw_events.metric == "Refunded Order"].merge(
        orders[["order_id", "value", "timestamp"]], on="order_id", suffixes=("", "_order"))
    assert len(refunds) == (raw_events.metric == "Refunded Order").sum()  # all name a real order
    assert ((refunds.value > 0) & (refunds.value <= refunds.value_order)).all()  # positive amounts
    assert (refunds.timestamp > refunds.timestamp_order).all()
    lines = raw_events[raw_events.metric == "Ordered Product"]
    assert set(lines.order_id) == set(orders.order_id)
    assert np.allclose(lines.value, (lines.price * lines.quantity).round(2))
    account_carts = raw_events[(raw_events.metric == "Added to Cart") & (raw_events.source == "account page")]
    assert len(account_carts) > 0
    for metric in ("Clicked Email", "Opened Email", "Received Email"):
        e = raw_events[raw_events.metric == metric]
        assert e.message_id.notna().all() and (e.campaign_id.notna() | e.flow_id.notna()).all()


def test_catalog_has_cross_sell_products(demo_store_files, store_ws):
    catalog = pd.read_parquet(demo_store_files / "catalog.parquet")
    assert catalog.product_id.is_unique and (catalog.price > 0).all()
    assert catalog.name.str.contains("Shorts").any() and catalog.name.str.contains("Tank Top").any()
    assert catalog.category.nunique() >= 5 and catalog.brand.nunique() >= 5
    ev = store_ws.events
    lines = ev.filter(ev.metric == "Ordered Product").select("profile_id", "product_id").execute()
    lines = lines.merge(catalog[["product_id", "product_type"]], on="product_id")
    bought = lines.groupby("product_type").profile_id.agg(set)
    assert len(bought["Shorts"] - bought["Tank Top"]) >= 20  # a cross-sell segment has people


def test_identity_merges_make_one_profile_per_person(store_ws, truth):
    assert store_ws.profiles.count().execute() == len(truth)
    assert store_ws.table("merges").count().execute() == truth.dual_identity.sum() > 0
    assert store_ws.table("quarantine").count().execute() == 0


def test_rfm_and_clv_prerequisites_hold(store_ws):
    ev = store_ws.events
    orders = ev.filter((ev.metric == "Placed Order") & (ev.value > 0))
    report = check_prerequisites(orders, "2025-06-30")
    assert report.ok and report.customers >= 500 and report.customers_with_3_orders >= 50


def test_ground_truth_drives_purchases_and_spend(store_ws, truth):
    buyers = truth[truth.is_buyer]
    # lambda ~ Gamma(r=0.9, rate alpha=60): mean 0.015 orders a day while alive.
    assert buyers.purchase_rate_per_day.mean() == pytest.approx(0.9 / 60, rel=0.1)
    assert buyers[["purchase_rate_per_day", "orders"]].corr("spearman").iloc[0, 1] > 0.3
    summary = customer_orders_table(store_ws, as_of="2025-06-30").execute()
    emails = store_ws.profiles.select("profile_id", "email").execute()
    emails["email"] = emails.email.str.strip().str.lower()
    merged = summary.merge(emails, on="profile_id").merge(truth, on="email")
    assert merged.orders_x.sum() == merged.orders_y.sum()  # every generated order arrived
    aov = merged.revenue / merged.orders_x
    repeat = merged.orders_x >= 3
    corr = np.corrcoef(aov[repeat], merged.expected_order_value[repeat])[0, 1]
    assert corr > 0.5


def test_csv_and_jsonl_hold_the_same_rows_as_parquet(tmp_path):
    for fmt in ("parquet", "csv", "jsonl"):
        generate_store(tmp_path / fmt, 150, seed=3, end_date="2024-06-30", fmt=fmt)
    want = pd.read_parquet(tmp_path / "parquet" / "events.parquet")
    csv = pd.read_csv(tmp_path / "csv" / "events.csv", dtype=str)
    jsonl = pd.read_json(tmp_path / "jsonl" / "events.jsonl", lines=True, dtype=False)
    for got in (csv, jsonl):
        assert got.event_id.tolist() == want.event_id.tolist()
        assert pd.to_datetime(got.timestamp, utc=True).tolist() == want.timestamp.tolist()
        assert np.allclose(got.value.astype(float), want.value, equal_nan=True)


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(InputError, match=r"end date '2024-02-30' is not a date; write it as YYYY-MM-DD"):
        generate_store(tmp_path, 10, end_date="2024-02-30")
    with pytest.raises(InputError, match="profiles must be a positive whole number, got 0"):
        generate_store(tmp_path, 0)
    with pytest.raises(InputError, match="format 'xml' is not supported"):
        generate_store(tmp_path, 10, fmt="xml")


def test_cli_writes_files_and_reports_errors(tmp_path, capsys):
    out = tmp_path / "demo"
    code = cli_main(["demo-data", "--profiles", "200", "--seed", "5", "--out", str(out),
                     "--end-date", "2025-01-31", "--format", "csv"])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"profiles.csv", "events.csv", "catalog.csv", "truth.parquet"}
    assert "200 people" in capsys.readouterr().out
    assert cli_main(["demo-data", "--out", str(out), "--end-date", "yesterday"]) == 2
    assert "end date 'yesterday' is not a date" in capsys.readouterr().err


# -- CDNOW ---------------------------------------------------------------------------------------
def test_cdnow_master_counts_and_exact_duplicate_rows():
    log = read_cdnow()
    assert len(log) == 69_659 and log.customer.nunique() == 23_570
    # 255 rows repeat an earlier row exactly: separate purchases, never dropped.
    assert log.duplicated(["customer", "date", "cds", "dollars"]).sum() == 255
    assert log.date.min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert log.date.max() == pd.Timestamp("1998-06-30", tz="UTC")


def test_cdnow_files_keep_every_row(tmp_path):
    files = write_cdnow(tmp_path)
    events = pd.read_parquet(files["events"])
    assert len(events) == 69_659 and events.event_id.is_unique
    assert (events.metric == "Placed Order").all()
    assert events.timestamp.dt.tz is not None and (events.timestamp.dt.hour == 0).all()
    first = events.iloc[0]
    assert (first.external_id, first.value, first.quantity) == ("1", 11.77, 1.0)
    assert len(pd.read_parquet(files["profiles"])) == 23_570


@pytest.mark.slow
def test_cdnow_master_ingests_completely(cdnow_path):
    with Workspace(cdnow_path, read_only=True) as ws:
        assert ws.profiles.count().execute() == 23_570
        assert ws.events.count().execute() == 69_659
        assert ws.table("quarantine").count().execute() == 0
        assert ws.events.value.sum().execute() == pytest.approx(read_cdnow().dollars.sum())


def test_cdnow_sample_ingests_with_published_customer_numbers(cdnow_sample_ws):
    ws = cdnow_sample_ws
    assert ws.profiles.count().execute() == 2_357
    assert ws.events.count().execute() == 6_919
    summary = customer_orders_table(ws, as_of="1997-09-30").execute()
    ids = ws.profiles.select("profile_id", "external_id", "master_customer_id").execute()
    one = summary.merge(ids, on="profile_id").set_index("external_id").loc["1"]
    # Customer 1 of Fader, Hardie & Lee (2005): x = 2 repeat purchases by 1997-09-30.
    # Ingest types the all-digit master id column as a number.
    assert one.orders == 3 and int(one.master_customer_id) == 4
    assert one.last_order_at == pd.Timestamp("1997-08-02", tz="UTC")
