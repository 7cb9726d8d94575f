"""RFM charts: group distribution, group-to-group flows, per-group medians."""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from cdp_lib.plots.base import axes_for, frame
from cdp_lib.rfm import GROUP_ORDER, NEVER_PURCHASED, NOT_SCORED

MEDIAN_LABELS = {
    "median_recency_days": "median days since last order",
    "median_frequency": "median number of orders",
    "median_monetary": "median revenue",
}


def plot_group_distribution(data, ax=None):
    """Bar chart of customers per group.

    `data` is an `rfm_group_counts_table` (one date: `customers`) or an
    `rfm_distribution_table` (two dates: `customers_start`, `customers_end`), Ibis or pandas.
    """
    df = frame(data)
    ax = axes_for(ax, (8, 4))
    if "customers_start" in df:
        long = df.melt(id_vars="rfm_group", value_vars=["customers_start", "customers_end"],
                       var_name="date", value_name="customers")
        long["date"] = long["date"].map({"customers_start": "start", "customers_end": "end"})
        sns.barplot(long, x="rfm_group", y="customers", hue="date", order=list(GROUP_ORDER), ax=ax)
    else:
        sns.barplot(df, x="rfm_group", y="customers", order=list(GROUP_ORDER), color="C0", ax=ax)
        for patch, share in zip(ax.patches, df.set_index("rfm_group").reindex(GROUP_ORDER)["share"]):
            if pd.notna(share):
                ax.annotate(f"{share:.0f}%", (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                            ha="center", va="bottom", fontsize=9)
    ax.set_xlabel("")
    ax.set_ylabel("customers")
    ax.set_title("Customers per RFM group")
    ax.tick_params(axis="x", rotation=20)
    return ax


def plot_transitions(transitions, ax=None):
    """Heatmap of customers moving from their group at the start (rows) to the end (columns)."""
    df = frame(transitions)
    ax = axes_for(ax, (8, 6))
    rows = [NEVER_PURCHASED, *GROUP_ORDER]
    cols = [*GROUP_ORDER, NOT_SCORED] if (df["to_group"] == NOT_SCORED).any() else list(GROUP_ORDER)
    matrix = (
        df.pivot_table(index="from_group", columns="to_group", values="customers", aggfunc="sum", fill_value=0)
        .reindex(index=rows, columns=cols, fill_value=0)
    )
    sns.heatmap(matrix, annot=True, fmt=",d", cmap="Blues", cbar=False, linewidths=0.5, ax=ax)
    ax.set_xlabel("group at the end date")
    ax.set_ylabel("group at the start date")
    ax.set_title("Where customers moved")
    return ax


def plot_medians(medians, column: str = "median_monetary", ax=None):
    """Bars of one per-group median (`median_recency_days`, `median_frequency`, `median_monetary`);
    one bar per date when `medians` has an `as_of` column (from `rfm_change`)."""
    if column not in MEDIAN_LABELS:
        raise ValueError(f"column must be one of {list(MEDIAN_LABELS)}, not {column!r}")
    df = frame(medians).copy()
    ax = axes_for(ax, (8, 4))
    hue = None
    if "as_of" in df:
        df["as_of"] = pd.to_datetime(df["as_of"]).dt.strftime("%Y-%m-%d")
        hue = "as_of"
    sns.barplot(df, x="rfm_group", y=column, hue=hue, order=[g for g in GROUP_ORDER if g in set(df["rfm_group"])],
                color=None if hue else "C0", ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel(MEDIAN_LABELS[column])
    ax.set_title(f"{MEDIAN_LABELS[column].capitalize()} per group")
    ax.tick_params(axis="x", rotation=20)
    return ax
