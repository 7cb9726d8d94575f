"""Funnel charts: people per step (with conversion between steps), conversion % per breakdown
value, and a time-to-convert histogram."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cdp_lib.display import style


def _axes(ax, size=(7, 3.5)):
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size)
    return ax


def plot_funnel(steps: pd.DataFrame, breakdown: str | None = None, ax=None):
    """Bars of people per step (`funnel_frame` output). Without a breakdown each bar is labelled
    with its people and % of step 1, and an arrow between neighbouring bars gives the conversion
    from the previous step; with one, bars are grouped by breakdown value."""
    ax = _axes(ax)
    data = steps.assign(label=[f"{s}. {m}" for s, m in zip(steps["step"], steps["metric"])])
    sns.barplot(data=data, x="label", y="profiles", hue=breakdown, ax=ax,
                color=None if breakdown else style.colour(0), legend=bool(breakdown))
    if not breakdown:
        top = float(data["profiles"].max() or 1)
        for i, row in enumerate(data.itertuples()):
            ax.annotate(f"{row.profiles:,}\n{100 * row.conversion_from_start:.1f} % of step 1", (i, row.profiles),
                        ha="center", va="bottom", fontsize="small")
            if i:
                ax.annotate(f"{100 * row.conversion_from_previous:.1f} %", xy=(i - 0.5, 0.55 * top), ha="center",
                            va="center", fontsize="small", color=style.DOWN if row.conversion_from_previous < 0.5
                            else style.UP, bbox={"boxstyle": "rarrow", "fc": "white", "ec": style.GRID})
    style.finish(ax, "Funnel: people reaching each step (arrows: % of the previous step)", "step", "people")
    ax.margins(y=0.25)
    ax.figure.tight_layout()
    return ax


def plot_breakdown_conversion(steps: pd.DataFrame, breakdown: str, ax=None):
    """Conversion from step 1 (%) at each step, one bar per breakdown value (`funnel_frame` with a
    breakdown): values of different sizes compare on one scale."""
    ax = _axes(ax, (8, 3.8))
    data = steps.assign(label=[f"{s}. {m}" for s, m in zip(steps["step"], steps["metric"])],
                        percent=100.0 * steps["conversion_from_start"])
    data = data[data["step"] > 1]
    sns.barplot(data=data, x="label", y="percent", hue=breakdown, ax=ax,
                palette=[style.colour(i) for i in range(data[breakdown].nunique())])
    for container in ax.containers:
        ax.bar_label(container, fmt="%.1f %%", fontsize=7, padding=1)
    style.finish(ax, f"Conversion from step 1 by {breakdown.replace('_', ' ')}", "step", "% of people at step 1")
    ax.legend(title=breakdown.replace("_", " "), frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    ax.margins(y=0.15)
    ax.figure.tight_layout()
    return ax


def plot_time_to_convert(seconds: pd.Series | pd.DataFrame, bins: int = 30, ax=None):
    """Histogram of time from step 1 to a step (`time_to_convert_table` output), in hours."""
    ax = _axes(ax)
    values = seconds["seconds"] if isinstance(seconds, pd.DataFrame) else seconds
    hours = np.asarray(values, dtype=float) / 3600.0
    sns.histplot(hours, bins=bins, color=style.colour(0), ax=ax)
    if len(hours):
        ax.axvline(float(np.median(hours)), color=style.DOWN, linestyle="--", label=f"median {np.median(hours):.1f} h")
        ax.legend(frameon=False, fontsize="small")
    style.finish(ax, "Time to convert", "hours from step 1", "people")
    ax.figure.tight_layout()
    return ax
