"""The demo store's catalog, and how people pick products from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cdp_lib.demodata import reference as ref


@dataclass
class Catalog:
    table: pa.Table
    category: np.ndarray  # category index per product, products sorted by (category, price)
    price: np.ndarray
    categories: list[str]
    cat_start: np.ndarray
    cat_end: np.ndarray
    popularity_key: np.ndarray  # category + cumulative popularity within it, for sampling
    price_key: np.ndarray  # category * 100 + log(price), for nearest-price lookups


def make_catalog(seed: int) -> Catalog:
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
    return Catalog(table, category, price, categories, cat_start, cat_end, key,
                    category * 100.0 + np.log(price))


def pick_products(rng, cat: Catalog, favourite: np.ndarray, loyalty: float = 0.6) -> np.ndarray:
    """One product per entry: from the person's favourite category with prob. `loyalty`."""
    n = favourite.size
    other = rng.integers(len(cat.categories), size=n)
    c = np.where(rng.random(n) < loyalty, favourite, other)
    idx = np.searchsorted(cat.popularity_key, c + rng.random(n), side="left")
    return np.minimum(idx, cat.cat_end[c] - 1)


def products_near_price(rng, cat: Catalog, favourite: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A product whose price is close to `target`, usually in the favourite category."""
    n = favourite.size
    c = np.where(rng.random(n) < 0.6, favourite, rng.integers(len(cat.categories), size=n))
    lo, hi = cat.cat_start[c], cat.cat_end[c] - 1
    key = c * 100.0 + np.log(np.maximum(target, 0.5)) + rng.normal(0, 0.15, n)
    j = np.clip(np.searchsorted(cat.price_key, key), lo, hi)
    left = np.maximum(j - 1, lo)
    closer_left = np.abs(cat.price_key[left] - key) < np.abs(cat.price_key[j] - key)
    return np.where(closer_left, left, j)

