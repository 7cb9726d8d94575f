"""Catalog insights: how products drive orders, to whom and when (rules: docs/catalog.md).

>>> from cdp_lib.catalog import catalog_params
>>> catalog_params("2025-06-30").lookback_days
730
"""

from cdp_lib.catalog.insights import (
    CatalogParams, catalog_params, next_order_pairs_table, next_order_table, orders_table, purchases_table,
    repeat_timing_table, same_cart_table, timing_histogram_table,
)
from cdp_lib.catalog.profiles import profile_attributes_table
from cdp_lib.catalog.store import (
    FILES, PROFILE_TABLE, CatalogInsights, compute_catalog_insights, run_catalog_insights, store_catalog_insights,
    product_cards, stored_table, top_products, write_csv,
)

__all__ = [
    "FILES", "PROFILE_TABLE", "CatalogInsights", "CatalogParams", "catalog_params", "compute_catalog_insights",
    "next_order_pairs_table", "next_order_table", "orders_table", "profile_attributes_table", "purchases_table",
    "repeat_timing_table", "run_catalog_insights", "same_cart_table", "store_catalog_insights", "stored_table",
    "product_cards", "timing_histogram_table", "top_products", "write_csv",
]
