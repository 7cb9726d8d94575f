"""Audience performance chart: attributed revenue per segment, split by channel."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def plot_audience_revenue(table: pd.DataFrame, ax=None):
    """Stacked horizontal bars of email and SMS revenue per segment (`audience_performance_table`)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.9 + 0.4 * max(len(table), 1)))
    ax.barh(table["segment"], table["email_revenue"], color="#2f6db5", label="email")
    ax.barh(table["segment"], table["sms_revenue"], left=table["email_revenue"], color="#e69f00", label="SMS")
    ax.invert_yaxis()
    ax.set_xlabel("attributed revenue")
    ax.set_title("Revenue attributed to email and SMS, by segment")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    ax.figure.tight_layout()
    return ax
