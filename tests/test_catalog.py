"""Catalog insights against hand-written baskets and a plain-loop reference (Hypothesis)."""

from __future__ import annotations

import datetime as dt
import statistics

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cdp_lib.catalog import (
    FILES, catalog_params, compute_catalog_insights, run_catalog_insights, store_catalog_insights,
)
from cdp_lib.cli import main
from cdp_lib.errors import InputError
from cdp_lib.testing import workspace_from_frames

COLS = ["event_id", "profile_id", "metric", "timestamp", "order_id", "product_id"]


def basket_events(rows):
    """rows: (profile, metric, timestamp, order_id, product_id)."""
    return pd.DataFrame([(f"e{i}", *r) for i, r in enumerate(rows)], columns=COLS)


# a: o1 {p1, p2} Jan 1 -> o2 {p3} Jan 11 (10 d) -> o3 {p1} Feb 9 (29 d), last order
# b: o4 {p1} Jan 5 -> o5 {p3} refunded -> o6 {p2} Jan 20 (15 d); o7 {p3} cancelled
# c: o8 {p2} Jan 1, one-product order and last order; o9 {p1} before the window
HAND = [
    ("a", "Ordered Product", "2024-01-01T10:00:00", "1", "p1"),
    ("a", "Ordered Product", "2024-01-01T10:00:00", "1", "p2"),
    ("a", "Ordered Product", "2024-01-01T10:00:00", "1", "p2"),  # same product twice: one purchase
    ("a", "Ordered Product", "2024-01-11T09:00:00", "2", "p3"),
    ("a", "Ordered Product", "2024-02-09T09:00:00", "3", "p1"),
    ("b", "Ordered Product", "2024-01-05T09:00:00", "4", "p1"),
    ("b", "Ordered Product", "2024-01-06T09:00:00", "5", "p3"),
    ("b", "Refunded Order", "2024-01-07T09:00:00", "5", None),
    ("b", "Ordered Product", "2024-01-20T09:00:00", "6", "p2"),
    ("b", "Ordered Product", "2024-01-21T09:00:00", "7", "p3"),
    ("b", "Cancelled Order", "2024-01-21T09:05:00", "7", None),
    ("c", "Ordered Product", "2024-01-01T23:59:00", "8", "p2"),
    ("c", "Ordered Product", "2023-01-01T09:00:00", "9", "p1"),
]
CATALOG = pd.DataFrame({"product_id": ["p1", "p2", "p3"], "category": ["A", "A", "B"]})


@pytest.fixture
def hand():
    ws = workspace_from_frames(events=basket_events(HAND), catalog=CATALOG)
    yield ws, compute_catalog_insights(ws, catalog_params("2024-03-01", lookback_days=100))
    ws.close()


def records(frame, cols):
    return [tuple(r) for r in frame[cols].itertuples(index=False)]


def test_repeat_timing_by_hand(hand):
    _, ins = hand
    got = ins["catalog_repeat_timing"]
    # p1: a/o1 -> 10 d, a/o3 none, b/o4 -> 15 d (o5 refunded); p2: a/o1 -> 10, b/o6 none, c/o8 none
    assert records(got, ["product_id", "buyers", "repeat_buyers_90d", "median_days_to_next_order"]) == [
        ("p1", 2, 2, 12.5), ("p2", 3, 1, 10.0), ("p3", 1, 1, 29.0)]
    assert got.repeat_share_90d.tolist() == pytest.approx([1.0, 1 / 3, 1.0])
    hist = ins["catalog_timing_histogram"]
    assert records(hist, ["product_id", "week", "purchases"]) == [("p1", 1, 1), ("p1", 2, 1), ("p2", 1, 1), ("p3", 4, 1)]


def test_same_cart_and_next_order_by_hand(hand):
    _, ins = hand
    cart = ins["catalog_same_cart"]
    assert records(cart, ["product_id", "other_product_id", "orders_together", "orders_with_product"]) == [
        ("p1", "p2", 1, 3), ("p2", "p1", 1, 3)]
    nxt = ins["catalog_next_order"]
    # P1 orders with a next order: a/o1 -> o2 {p3}, b/o4 -> o6 {p2}: 2 returning customers
    assert records(nxt, ["product_id", "next_product_id", "customers", "median_days"]) == [
        ("p1", "p2", 1, 15.0), ("p1", "p3", 1, 10.0), ("p2", "p3", 1, 10.0), ("p3", "p1", 1, 29.0)]
    assert nxt.rate.tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])


def test_category_tables_by_hand(hand):
    _, ins = hand
    rt = ins["catalog_category_repeat_timing"]
    # A: a/o1 -> 10, a/o3 none, b/o4 -> 15, b/o6 none, c/o8 none
    assert records(rt, ["category", "buyers", "repeat_buyers_90d", "median_days_to_next_order"]) == [
        ("A", 3, 2, 12.5), ("B", 1, 1, 29.0)]
    assert ins["catalog_category_same_cart"].empty  # o1 holds two products of one category
    assert list(ins["catalog_category_same_cart"].columns) == [
        "category", "other_category", "orders_together", "orders_with_product", "co_purchase_rate"]
    nxt = ins["catalog_category_next_order"]
    assert records(nxt, ["category", "next_category", "customers"]) == [("A", "A", 1), ("A", "B", 1), ("B", "A", 1)]


def test_profile_attributes_by_hand(hand):
    _, ins = hand
    prof = ins["catalog_profile_attributes"].set_index("profile_id")
    # a bought everything: no candidate and no best seller left; Feb 9 + median(p1: 12.5) -> 13 d
    assert prof.loc["a", "next_best_product"] is None
    assert prof.loc["a", "best_cross_sell_date"] == dt.date(2024, 2, 22)
    # b's last order o6 {p2}: p2 -> p3 (p3 only refunded/cancelled, so not bought); Jan 20 + 10
    assert prof.loc["b", "next_best_product"] == "p3"
    assert prof.loc["b", "best_cross_sell_date"] == dt.date(2024, 1, 30)
    # c's last order {p2} proposes p3 too; tie-free. Jan 1 + p2's median 10 d
    assert prof.loc["c", "next_best_product"] == "p3"
    assert prof.loc["c", "best_cross_sell_date"] == dt.date(2024, 1, 11)
    assert sorted(prof.index) == ["a", "b", "c"]


def test_best_seller_fallback_and_ties():
    # x buys p9 once (no next order anywhere for p9): falls back to best sellers, p1 and p2 tie
    # on buyers (2 each) -> the smaller id p1; y bought p1 already -> p2.
    rows = [
        ("x", "Ordered Product", "2024-01-01T00:00:00", "1", "p9"),
        ("y", "Ordered Product", "2024-01-01T00:00:00", "2", "p1"),
        ("z", "Ordered Product", "2024-01-02T00:00:00", "3", "p1"),
        ("z", "Ordered Product", "2024-01-02T00:00:00", "3", "p2"),
        ("w", "Ordered Product", "2024-01-03T00:00:00", "4", "p2"),
    ]
    ws = workspace_from_frames(events=basket_events(rows), catalog=CATALOG)
    prof = compute_catalog_insights(ws, catalog_params("2024-02-01"))["catalog_profile_attributes"].set_index("profile_id")
    assert prof.loc["x", "next_best_product"] == "p1"
    assert prof.loc["y", "next_best_product"] == "p2"
    assert pd.isna(prof.loc["x", "best_cross_sell_date"])  # nobody ever ordered again


# -- plain-loop reference -----------------------------------------------------------------------
def reference(rows, as_of: dt.date, lookback: int, window: int, top_n: int):
    end = pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1)
    start = pd.Timestamp(as_of - dt.timedelta(days=lookback - 1), tz="UTC")
    bad = set()
    for _, metric, ts, oid, _ in rows:
        if metric in ("Refunded Order", "Cancelled Order") and pd.Timestamp(ts, tz="UTC") < end:
            bad.add(oid)
    orders = {}
    for prof, metric, ts, oid, pid in rows:
        t = pd.Timestamp(ts, tz="UTC")
        if metric != "Ordered Product" or t >= end or oid in bad:
            continue
        o = orders.setdefault(oid, {"t": t, "p": prof, "items": set()})
        if t < o["t"]:
            o["t"], o["p"] = t, prof
        o["items"].add(pid)
    orders = {k: v for k, v in orders.items() if v["t"] >= start}
    by_person = {}
    for oid, o in orders.items():
        by_person.setdefault(o["p"], []).append((o["t"], oid))
    nxt = {}
    for lst in by_person.values():
        lst.sort()
        for i, (t, oid) in enumerate(lst):
            if i + 1 < len(lst):
                t2, o2 = lst[i + 1]
                nxt[oid] = (o2, (t2.date() - t.date()).days)
    timing, cart, follow = {}, {}, {}
    for oid, o in orders.items():
        n = nxt.get(oid)
        for p in o["items"]:
            r = timing.setdefault(p, {"buyers": set(), "rep": set(), "days": []})
            r["buyers"].add(o["p"])
            if n and n[1] <= window:
                r["rep"].add(o["p"])
                r["days"].append(n[1])
            c = cart.setdefault(p, {"n": 0, "with": {}})
            c["n"] += 1
            for q in o["items"]:
                if q != p:
                    c["with"][q] = c["with"].get(q, 0) + 1
            if n:
                f = follow.setdefault(p, {"returning": set(), "to": {}})
                f["returning"].add(o["p"])
                for q in orders[n[0]]["items"]:
                    e = f["to"].setdefault(q, {"people": set(), "days": []})
                    e["people"].add(o["p"])
                    e["days"].append(n[1])
    rt = sorted((p, len(r["buyers"]), len(r["rep"]), statistics.median(r["days"]) if r["days"] else None)
                for p, r in timing.items())
    sc = []
    for p, c in cart.items():
        ranked = sorted(c["with"].items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
        sc += [(p, q, k, c["n"]) for q, k in ranked]
    no = []
    for p, f in follow.items():
        ranked = sorted(f["to"].items(), key=lambda kv: (-len(kv[1]["people"]), kv[0]))[:top_n]
        no += [(p, q, len(e["people"]), len(e["people"]) / len(f["returning"]), statistics.median(e["days"]))
               for q, e in ranked]
    reference.state = {"orders": orders, "by_person": by_person, "timing": timing, "follow": follow}
    return rt, sorted(sc), sorted(no)


def reference_profiles(rows, as_of, lookback, window, top_n, best_sellers=50):
    """profile -> (next_best_product, best_cross_sell_date) by the documented rules, in loops."""
    reference(rows, as_of, lookback, window, top_n)
    orders, by_person = reference.state["orders"], reference.state["by_person"]
    timing, follow = reference.state["timing"], reference.state["follow"]
    top = {}
    for p, f in follow.items():
        ranked = sorted(f["to"].items(), key=lambda kv: (-len(kv[1]["people"]), kv[0]))[:top_n]
        top[p] = [(q, len(e["people"]) / len(f["returning"])) for q, e in ranked]
    sellers = sorted(timing, key=lambda p: (-len(timing[p]["buyers"]), p))[:best_sellers]
    out = {}
    for person, lst in by_person.items():
        last_t, last_o = max(lst)
        items = orders[last_o]["items"]
        bought = {p for _, o in lst for p in orders[o]["items"]}
        score = {}
        for p in items:
            for q, rate in top.get(p, []):
                if q not in bought:
                    score[q] = score.get(q, 0.0) + rate
        if score:
            best = min(score, key=lambda q: (-round(score[q], 9), q))
        else:
            best = next((q for q in sellers if q not in bought), None)
        medians = [statistics.median(timing[p]["days"]) for p in items if timing[p]["days"]]
        date = None
        if medians:
            m = statistics.median(medians)
            date = last_t.date() + dt.timedelta(days=int(m + 0.5))
        out[person] = (best, date)
    return out


def _norm(value):
    return None if value is None or pd.isna(value) else float(value)


PRODUCTS = ["p1", "p2", "p3", "p4"]


@st.composite
def baskets(draw):
    rows = []
    n_orders = draw(st.integers(1, 25))
    for k in range(n_orders):
        person = draw(st.sampled_from(["a", "b", "c", "d"]))
        day = draw(st.integers(0, 40))
        hour = draw(st.sampled_from([0, 12, 23]))  # coarse grid: same-time orders, day boundaries
        ts = f"{(dt.date(2024, 1, 1) + dt.timedelta(days=day)).isoformat()}T{hour:02d}:00:00"
        items = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3))
        for p in items:
            rows.append((person, "Ordered Product", ts, f"o{k:02d}", p))
        fate = draw(st.sampled_from(["kept"] * 4 + ["Refunded Order", "Cancelled Order"]))
        if fate != "kept":
            rows.append((person, fate, ts, f"o{k:02d}", None))
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=baskets(), lookback=st.sampled_from([10, 30, 60]), window=st.sampled_from([0, 7, 90]),
       top_n=st.sampled_from([1, 2, 10]))
def test_cards_match_the_loop_reference(rows, lookback, window, top_n):
    as_of = dt.date(2024, 2, 10)
    ws = workspace_from_frames(events=basket_events(rows), catalog=CATALOG)
    try:
        ins = compute_catalog_insights(ws, catalog_params(as_of, lookback, window, top_n))
    finally:
        ws.close()
    rt, sc, no = reference(rows, as_of, lookback, window, top_n)
    got_rt = sorted((r.product_id, r.buyers, r.repeat_buyers_90d, _norm(r.median_days_to_next_order))
                    for r in ins["catalog_repeat_timing"].itertuples())
    assert got_rt == [(p, b, k, _norm(m)) for p, b, k, m in rt]
    got_sc = sorted(records(ins["catalog_same_cart"], ["product_id", "other_product_id", "orders_together",
                                                       "orders_with_product"]))
    assert got_sc == sc
    got_no = sorted(records(ins["catalog_next_order"], ["product_id", "next_product_id", "customers", "rate",
                                                        "median_days"]))
    assert [g[:3] for g in got_no] == [r[:3] for r in no]
    assert [x for g in got_no for x in g[3:]] == pytest.approx([x for r in no for x in r[3:]])


# -- storage, CSV and CLI -------------------------------------------------------------------------
def test_store_replaces_and_cli_writes_exact_files(tmp_path, capsys):
    db = tmp_path / "cdp.duckdb"
    ws = workspace_from_frames(str(db), events=basket_events(HAND), catalog=CATALOG)
    params = catalog_params("2024-03-01", lookback_days=100)
    ins = run_catalog_insights(ws, params)
    store_catalog_insights(ws, ins)  # second store replaces, never appends
    assert ws.table("catalog_profile_attributes").count().execute() == 3
    ws.close()
    out = tmp_path / "out"
    code = main(["--db", str(db), "catalog-insights", "--as-of", "2024-03-01", "--lookback-days", "100",
                 "--out-dir", str(out)])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    heads = {name: pd.read_csv(out / name).columns.tolist() for name in FILES}
    assert heads["repeat_timing.csv"] == ["product_id", "buyers", "repeat_buyers_90d", "repeat_share_90d",
                                          "median_days_to_next_order"]
    assert heads["same_cart.csv"] == ["product_id", "other_product_id", "orders_together", "orders_with_product",
                                      "co_purchase_rate"]
    assert heads["next_order.csv"] == ["product_id", "next_product_id", "customers", "rate", "median_days"]
    assert heads["category_repeat_timing.csv"][0] == "category"
    assert heads["category_next_order.csv"][:2] == ["category", "next_category"]
    assert heads["profiles.csv"] == ["profile_id", "next_best_product", "best_cross_sell_date"]
    assert pd.read_csv(out / "profiles.csv").set_index("profile_id").loc["b", "best_cross_sell_date"] == "2024-01-30"


@pytest.mark.parametrize("args, message", [
    (["--lookback-days", "0"], "lookback_days: expected a whole number >= 1"),
    (["--as-of", "2024-13-01"], "as_of: '2024-13-01' is not a date"),
])
def test_bad_parameters_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=basket_events(HAND), catalog=CATALOG).close()
    out = tmp_path / "out"
    assert main(["--db", str(db), "catalog-insights", *args, "--out-dir", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_params_reject_bad_values():
    with pytest.raises(InputError, match="top_n: expected a whole number >= 1"):
        catalog_params("2024-01-01", top_n=0)


def test_a_failed_store_leaves_the_previous_tables(tmp_path, monkeypatch):
    ws = workspace_from_frames(str(tmp_path / "cdp.duckdb"), events=basket_events(HAND), catalog=CATALOG)
    first = run_catalog_insights(ws, catalog_params("2024-03-01", lookback_days=100))
    later = compute_catalog_insights(ws, catalog_params("2024-01-15", lookback_days=100))
    create = ws.con.create_table

    def failing(name, *args, **kwargs):  # repeat timing is written first, then this one fails
        if name == "catalog_profile_attributes":
            raise RuntimeError("disk full")
        return create(name, *args, **kwargs)

    monkeypatch.setattr(ws.con, "create_table", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        store_catalog_insights(ws, later)
    monkeypatch.undo()
    kept = ws.table("catalog_repeat_timing").execute()
    pd.testing.assert_frame_equal(kept.sort_values("product_id").reset_index(drop=True),
                                  first["catalog_repeat_timing"].sort_values("product_id").reset_index(drop=True),
                                  check_dtype=False)
    ws.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=baskets(), top_n=st.sampled_from([1, 2, 10]))
def test_profile_attributes_match_the_loop_reference(rows, top_n):
    as_of = dt.date(2024, 2, 10)
    ws = workspace_from_frames(events=basket_events(rows), catalog=CATALOG)
    try:
        prof = compute_catalog_insights(ws, catalog_params(as_of, 60, 90, top_n))["catalog_profile_attributes"]
    finally:
        ws.close()
    got = {r.profile_id: (r.next_best_product, r.best_cross_sell_date) for r in prof.itertuples()}
    assert got == reference_profiles(rows, as_of, 60, 90, top_n)
