"""RFM charts: group distribution, group-to-group flows (heatmap and Sankey), revenue share, medians."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from cdp_lib.display import style
from cdp_lib.display.format import date as fmt_date
from cdp_lib.display.settings import currency
from cdp_lib.plots.flows import plot_flow
from cdp_lib.rfm import GROUP_ORDER, NEVER_PURCHASED, NOT_SCORED

MEDIAN_LABELS = {
    "median_recency_days": "median days since last order",
    "median_frequency": "median number of orders",
    "median_monetary": "median revenue",
}
MEDIAN_UNITS = {"median_recency_days": "days", "median_frequency": "orders", "median_monetary": None}


def _frame(data) -> pd.DataFrame:
    return data if isinstance(data, pd.DataFrame) else data.execute()


def _axes(ax, size=(8, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_group_distribution(data, ax=None):
    """Bar chart of customers per group.

    `data` is an `rfm_group_counts_table` (one date: `customers`) or an
    `rfm_distribution_table` (two dates: `customers_start`, `customers_end`), Ibis or pandas.
    """
    df = _frame(data)
    ax = _axes(ax)
    if "customers_start" in df:
        long = df.melt(id_vars="rfm_group", value_vars=["customers_start", "customers_end"],
                       var_name="date", value_name="customers")
        long["date"] = long["date"].map({"customers_start": "start", "customers_end": "end"})
        sns.barplot(long, x="rfm_group", y="customers", hue="date", order=list(GROUP_ORDER), ax=ax)
    else:
        sns.barplot(df, x="rfm_group", y="customers", order=list(GROUP_ORDER), color="C0", ax=ax)
        for patch, share in zip(ax.patches, df.set_index("rfm_group").reindex(GROUP_ORDER)["share"]):
            if pd.notna(share):
                ax.annotate(f"{share:.1f} %", (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                            ha="center", va="bottom", fontsize=9)
    style.finish(ax, "Customers per RFM group", "RFM group", "customers")
    ax.tick_params(axis="x", rotation=20)
    return ax


def plot_transitions(transitions, ax=None):
    """Heatmap of customers moving from their group at the start (rows) to the end (columns)."""
    df = _frame(transitions)
    ax = _axes(ax, (8, 6))
    rows = [NEVER_PURCHASED, *GROUP_ORDER]
    cols = [*GROUP_ORDER, NOT_SCORED] if (df["to_group"] == NOT_SCORED).any() else list(GROUP_ORDER)
    matrix = (
        df.pivot_table(index="from_group", columns="to_group", values="customers", aggfunc="sum", fill_value=0)
        .reindex(index=rows, columns=cols, fill_value=0)
    )
    sns.heatmap(matrix, annot=True, fmt=",d", cmap="Blues", cbar=False, linewidths=0.5, ax=ax)
    style.finish(ax, "Where customers moved (customers)", "group at the end date", "group at the start date", grid="")
    return ax


def plot_group_flow(transitions, start_date=None, end_date=None, ax=None):
    """Sankey chart of customers moving from their group at the start (left) to the end (right);
    "Never purchased" feeds in from the left. Band width = customers."""
    df = _frame(transitions)
    left = f"start {fmt_date(start_date)}" if start_date is not None else "start"
    right = f"end {fmt_date(end_date)}" if end_date is not None else "end"
    ax = plot_flow(df, "from_group", "to_group", "customers", [NEVER_PURCHASED, *GROUP_ORDER],
                   [*GROUP_ORDER, NOT_SCORED], style.group_colour, left_title=left, right_title=right, ax=ax)
    ax.set_title("RFM group changes (band width: customers)", fontfamily=style.FONT, fontsize=12, loc="left",
                 fontweight="bold", color=style.INK)
    return ax


def plot_revenue_share(revenue, ax=None):
    """Side-by-side bars per group: share of customers and share of revenue (%), from
    `rfm.rfm_revenue_table` (Ibis or pandas)."""
    df = _frame(revenue).set_index("rfm_group").reindex(GROUP_ORDER).fillna(0).reset_index()
    ax = _axes(ax)
    long = df.melt(id_vars="rfm_group", value_vars=["customer_share", "revenue_share"], var_name="share of",
                   value_name="percent")
    long["share of"] = long["share of"].map({"customer_share": "customers", "revenue_share": "revenue"})
    sns.barplot(long, x="rfm_group", y="percent", hue="share of", order=list(GROUP_ORDER),
                palette=[style.colour(7), style.colour(0)], ax=ax)
    for patch in ax.patches:
        height = patch.get_height()
        if height > 0:
            ax.annotate(f"{height:.1f} %", (patch.get_x() + patch.get_width() / 2, height), ha="center",
                        va="bottom", fontsize=8)
    style.finish(ax, "Share of customers and of revenue per group", "RFM group", "share (%)")
    ax.tick_params(axis="x", rotation=20)
    ax.legend(title="share of", frameon=False, fontsize="small")
    return ax


def plot_medians(medians, column: str = "median_monetary", ax=None):
    """Bars of one per-group median (`median_recency_days`, `median_frequency`, `median_monetary`);
    one bar per date when `medians` has an `as_of` column (from `rfm_change`)."""
    if column not in MEDIAN_LABELS:
        raise ValueError(f"column must be one of {list(MEDIAN_LABELS)}, not {column!r}")
    df = _frame(medians).copy()
    ax = _axes(ax)
    hue = None
    if "as_of" in df:
        df["as_of"] = pd.to_datetime(df["as_of"]).dt.strftime("%Y-%m-%d")
        hue = "as_of"
    sns.barplot(df, x="rfm_group", y=column, hue=hue, order=[g for g in GROUP_ORDER if g in set(df["rfm_group"])],
                color=None if hue else "C0", ax=ax)
    unit = MEDIAN_UNITS[column] or currency()
    style.finish(ax, f"{MEDIAN_LABELS[column].capitalize()} per group", "RFM group",
                 f"{MEDIAN_LABELS[column]} ({unit})")
    ax.tick_params(axis="x", rotation=20)
    return ax
