"""Charts for the data-health report: events per day."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from cdp_lib.display import style


def plot_events_per_day(totals: pd.DataFrame, ax=None):
    """Bars of events per day (`health.daily_totals` output: day, events); returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    days = pd.to_datetime(totals["day"])
    ax.bar(days, totals["events"], width=0.8, color=style.colour(0))
    style.finish(ax, "Events per day (UTC)", "day (UTC)", "events")
    ax.figure.autofmt_xdate()
    ax.figure.tight_layout()
    return ax
