"""Audience performance chart: attributed revenue per segment, split by channel."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from cdp_lib.display import style
from cdp_lib.display.settings import currency


def plot_audience_revenue(table: pd.DataFrame, ax=None):
    """Stacked horizontal bars of email and SMS revenue per segment (`audience_performance_table`)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.9 + 0.4 * max(len(table), 1)))
    ax.barh(table["segment"], table["email_revenue"], color=style.colour(0), label="email")
    ax.barh(table["segment"], table["sms_revenue"], left=table["email_revenue"], color=style.colour(1), label="SMS")
    ax.invert_yaxis()
    style.finish(ax, "Revenue attributed to email and SMS, by segment", f"attributed revenue ({currency()})", None,
                 grid="x")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    ax.figure.tight_layout()
    return ax
