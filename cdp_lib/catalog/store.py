"""Storage edge of catalog insights: compute every card, store the tables, write the CSV files.

Tables (replaced on each run, all in one transaction on DuckDB):
`catalog_repeat_timing`, `catalog_same_cart`, `catalog_next_order`, `catalog_timing_histogram`,
their `catalog_category_*` twins, and `catalog_profile_attributes` (profile_id, as_of,
next_best_product, best_cross_sell_date) read by segments and customer 360.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd

from cdp_lib.catalog.insights import (
    CatalogParams, next_order_table, orders_table, purchases_table, repeat_timing_table, same_cart_table,
    timing_histogram_table,
)
from cdp_lib.catalog.profiles import profile_attributes_table
from cdp_lib.errors import InputError
from cdp_lib.workspace import Workspace

PROFILE_TABLE = "catalog_profile_attributes"
# CSV file -> stored table
FILES = {
    "repeat_timing.csv": "catalog_repeat_timing",
    "same_cart.csv": "catalog_same_cart",
    "next_order.csv": "catalog_next_order",
    "category_repeat_timing.csv": "catalog_category_repeat_timing",
    "category_same_cart.csv": "catalog_category_same_cart",
    "category_next_order.csv": "catalog_category_next_order",
    "profiles.csv": PROFILE_TABLE,
}
HISTOGRAMS = {"product_id": "catalog_timing_histogram", "category": "catalog_category_timing_histogram"}


@dataclass
class CatalogInsights:
    """Every catalog-insights table as a data frame, keyed by stored table name."""

    params: CatalogParams
    tables: dict[str, pd.DataFrame]
    schemas: dict[str, "ibis.Schema"]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def compute_catalog_insights(ws: Workspace, params: CatalogParams) -> CatalogInsights:
    """All cards for products and categories, plus the per-profile attributes (as data frames)."""
    orders = orders_table(ws, params)
    if ws.is_duckdb:  # the window functions behind next orders are shared by every card
        orders = orders.cache()
    tables: dict[str, pd.DataFrame] = {}
    schemas: dict[str, ibis.Schema] = {}

    def run(name: str, expr) -> pd.DataFrame:
        schemas[name] = expr.schema()
        tables[name] = expr.execute()
        return tables[name]

    for key in ("product_id", "category"):
        purchases = purchases_table(ws, params, orders, by="product" if key == "product_id" else "category")
        if ws.is_duckdb:
            purchases = purchases.cache()
        prefix = "catalog" if key == "product_id" else "catalog_category"
        run(f"{prefix}_repeat_timing", repeat_timing_table(purchases, params, key))
        run(f"{prefix}_same_cart", same_cart_table(purchases, params, key))
        run(f"{prefix}_next_order", next_order_table(purchases, params, key))
        run(HISTOGRAMS[key], timing_histogram_table(purchases, params, key))
        if key == "product_id":
            prof = run(PROFILE_TABLE, profile_attributes_table(purchases, params))
            dates = pd.to_datetime(prof["best_cross_sell_date"])
            prof["best_cross_sell_date"] = pd.Series([None if pd.isna(d) else d.date() for d in dates],
                                                     index=prof.index, dtype="object")
            prof.insert(1, "as_of", params.as_of)
            schema = dict(schemas[PROFILE_TABLE].items())
            schemas[PROFILE_TABLE] = ibis.schema({"profile_id": schema["profile_id"], "as_of": "date",
                                                  "next_best_product": schema["next_best_product"],
                                                  "best_cross_sell_date": "date"})
    return CatalogInsights(params, tables, schemas)


def store_catalog_insights(ws: Workspace, insights: CatalogInsights) -> None:
    """Replace the stored catalog tables with these results (all or nothing on DuckDB)."""
    if ws.read_only:
        raise InputError("catalog insights write tables: open the workspace for writing (not read-only)")
    with ws.transaction():
        for name, frame in insights.tables.items():
            ws.con.create_table(name, frame, schema=insights.schemas[name], overwrite=True)


def write_csv(insights: CatalogInsights, out_dir: str | os.PathLike) -> list[Path]:
    """The seven CSV files of `cdp catalog-insights --out-dir`; written to a temporary name first
    and renamed, so a failure leaves no half-written file."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out-dir {folder} is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, table in FILES.items():
        frame = insights.tables[table]
        if table == PROFILE_TABLE:
            frame = frame.drop(columns=["as_of"])
        target = folder / filename
        tmp = folder / f".{filename}.tmp"
        frame.to_csv(tmp, index=False)
        written.append((tmp, target))
    for tmp, target in written:
        tmp.replace(target)
    return [t for _, t in written]


def run_catalog_insights(ws: Workspace, params: CatalogParams, out_dir: str | os.PathLike | None = None,
                         store: bool = True) -> CatalogInsights:
    """Compute, store in the workspace (unless `store=False`) and write CSVs to `out_dir`."""
    insights = compute_catalog_insights(ws, params)
    if store:
        store_catalog_insights(ws, insights)
    if out_dir is not None:
        write_csv(insights, out_dir)
    return insights


def stored_table(ws: Workspace, name: str) -> pd.DataFrame:
    """A stored catalog table, or a message naming the command that makes it."""
    from cdp_lib.errors import NotComputedError

    if not ws.has_table(name):
        raise NotComputedError(f"table {name!r} is not in the workspace; run 'cdp catalog-insights' first")
    return ws.table(name).execute()


def top_products(insights: CatalogInsights, n: int = 8) -> list[str]:
    """The `n` products with the most buyers (ties: smaller id), for charts and pickers."""
    timing = insights["catalog_repeat_timing"].sort_values(["buyers", "product_id"], ascending=[False, True])
    return timing["product_id"].head(n).tolist()


def product_cards(ws: Workspace, product_id: str) -> dict[str, pd.DataFrame]:
    """The three stored cards of one product (repeat timing + histogram, same cart, next order)."""
    out = {}
    for card, table in (("repeat_timing", "catalog_repeat_timing"), ("histogram", "catalog_timing_histogram"),
                        ("same_cart", "catalog_same_cart"), ("next_order", "catalog_next_order")):
        if not ws.has_table(table):
            from cdp_lib.errors import NotComputedError

            raise NotComputedError("catalog insights are not in the workspace yet; run 'cdp catalog-insights' first")
        t = ws.table(table)
        out[card] = t.filter(t.product_id == product_id).execute()
    return out
