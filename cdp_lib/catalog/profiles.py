"""Per-profile catalog attributes: `next_best_product` and `best_cross_sell_date`.

Rules (docs/catalog.md):

* A profile's *last order* is its latest kept order in the lookback window, by (time, order_id).
* `next_best_product`: each product P of the last order proposes the `top_n` products most often
  bought in the next order after P (the `next_order` card); a candidate's score is the sum of its
  `rate` over the products of the last order, to 9 decimals. Products the profile bought in the window (kept
  orders) are never proposed. The highest score wins (ties: smaller product id). With no
  candidate left, the first of the store's `BEST_SELLERS` best sellers (most buyers in the
  window, ties: smaller id) the profile has not bought; null when it bought them all.
* `best_cross_sell_date`: the date of the last order plus the median, over the products of
  that order with a repeat timing, of their `median_days_to_next_order`, rounded half up to
  whole days; null when none of them has one.
* Only profiles with a kept order in the window get a row.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from cdp_lib.catalog.insights import CatalogParams, next_order_pairs_table, repeat_timing_table

BEST_SELLERS = 50


def profile_attributes_table(purchases: ir.Table, params: CatalogParams) -> ir.Table:
    """profile_id, next_best_product, best_cross_sell_date (a date) for profiles with a kept order."""
    p = purchases
    orders = p.select("profile_id", "order_id", "ordered_at").distinct()
    ranked = orders.mutate(_r=ibis.row_number().over(group_by="profile_id",
                                                      order_by=[ibis.desc("ordered_at"), ibis.desc("order_id")]))
    last = ranked.filter(ranked._r == 0).select(_lp="profile_id", _lo="order_id", _lat="ordered_at")
    lines = p.select(_o="order_id", _item="item")
    # Materialised once: each is read by several joins below (halves the time on DuckDB).
    last_items = last.join(lines, last._lo == lines._o).select("_lp", "_lat", "_item").cache()
    bought = p.select(_bp="profile_id", _bi="item").distinct().cache()

    # next best product from the next-order card
    pairs = next_order_pairs_table(p)
    pairs = pairs.mutate(_k=ibis.row_number().over(group_by="item", order_by=[ibis.desc("customers"), "next_item"]))
    pairs = pairs.filter(pairs._k < params.top_n).cache()
    cand = last_items.join(pairs, last_items._item == pairs.item)
    # rounded so that equal sums added in another order still tie (then the smaller id wins)
    scored = cand.group_by(_cp=cand._lp, _cq=cand.next_item).aggregate(_score=cand.rate.sum().round(9))
    scored = scored.anti_join(bought, [scored._cp == bought._bp, scored._cq == bought._bi])
    best = scored.mutate(_r=ibis.row_number().over(group_by="_cp", order_by=[ibis.desc("_score"), "_cq"]))
    best = best.filter(best._r == 0).select(_np="_cp", _nbp="_cq")

    # fallback: best sellers not bought yet
    sellers = p.group_by(_si="item").aggregate(_buyers=p.profile_id.nunique())
    sellers = sellers.mutate(_pos=ibis.row_number().over(order_by=[ibis.desc("_buyers"), "_si"]))
    sellers = sellers.filter(sellers._pos < BEST_SELLERS).select("_si", "_pos")
    without = last.select(_fp="_lp")
    without = without.anti_join(best, without._fp == best._np)
    options = without.cross_join(sellers)
    options = options.anti_join(bought, [options._fp == bought._bp, options._si == bought._bi])
    options = options.mutate(_r=ibis.row_number().over(group_by="_fp", order_by="_pos"))
    fallback = options.filter(options._r == 0).select(_np="_fp", _nbp="_si")
    choice = best.union(fallback)

    # best cross-sell date from the repeat-timing card
    timing = repeat_timing_table(p, params, key="_tp").select("_tp", _m="median_days_to_next_order")
    med = last_items.join(timing, last_items._item == timing._tp)
    med = med.group_by(_mp="_lp").aggregate(_lat=med._lat.max(), _days=med._m.median())
    med = med.filter(med._days.notnull())
    med = med.select("_mp", _date=med._lat.date() + (med._days + 0.5).floor().cast("int32").as_interval("D"))

    people = last.select("_lp")
    out = people.left_join(choice, people._lp == choice._np).select("_lp", "_nbp")
    out = out.left_join(med, out._lp == med._mp)
    return out.select(profile_id=out._lp, next_best_product=out._nbp,
                      best_cross_sell_date=out._date.cast("date")).order_by("profile_id")
