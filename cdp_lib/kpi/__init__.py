"""KPI overview: metrics for a date range next to the equal-length period just before it.

The package: `overview` (KPIs of a range against a comparison period, breakdowns, series) and
`views` (what the KPI app shows beside them: per-day values for sparklines, email/SMS-attributed
revenue); the names of `overview` are re-exported here.
"""

from __future__ import annotations

from cdp_lib.kpi.overview import (  # noqa: F401
    ACCOUNT_DASHBOARD, ACCOUNT_PAGE_SOURCE, ADDED_TO_CART, CREATED_ACCOUNT, Kpi, KpiParams,
    MEASURES, PASSIVE_METRICS, PLACED_ORDER_AOV, Period, SERVICE_INTERACTIONS, kpi_breakdown,
    kpi_overview, kpi_period, kpi_series, kpi_table, latest_event_day,
)

__all__ = [
    "ACCOUNT_DASHBOARD", "ACCOUNT_PAGE_SOURCE", "ADDED_TO_CART", "CREATED_ACCOUNT", "Kpi",
    "KpiParams", "MEASURES", "PASSIVE_METRICS", "PLACED_ORDER_AOV", "Period",
    "SERVICE_INTERACTIONS", "kpi_breakdown", "kpi_overview", "kpi_period", "kpi_series",
    "kpi_table", "latest_event_day",
]
