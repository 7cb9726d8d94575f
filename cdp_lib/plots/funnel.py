"""Funnel charts: people per step (bars with conversion labels) and a time-to-convert histogram."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from cdp_lib.plots.base import axes_for


def plot_funnel(steps: pd.DataFrame, breakdown: str | None = None, ax=None):
    """Bars of people per step (`funnel_frame` output), labelled with conversion from step 1."""
    ax = axes_for(ax, (7, 3.5))
    data = steps.assign(label=[f"{s}. {m}" for s, m in zip(steps["step"], steps["metric"])])
    sns.barplot(data=data, x="label", y="profiles", hue=breakdown, ax=ax,
                color=None if breakdown else "#2f6db5", legend=bool(breakdown))
    if not breakdown:
        for i, row in enumerate(data.itertuples()):
            ax.annotate(f"{row.profiles:,}\n{row.conversion_from_start:.1%}", (i, row.profiles),
                        ha="center", va="bottom", fontsize="small")
    ax.set_xlabel("")
    ax.set_ylabel("people")
    ax.set_title("Funnel: people reaching each step")
    ax.margins(y=0.2)
    ax.figure.tight_layout()
    return ax


def plot_time_to_convert(seconds: pd.Series | pd.DataFrame, bins: int = 30, ax=None):
    """Histogram of time from step 1 to a step (`time_to_convert_table` output), in hours."""
    ax = axes_for(ax, (7, 3.5))
    values = seconds["seconds"] if isinstance(seconds, pd.DataFrame) else seconds
    hours = np.asarray(values, dtype=float) / 3600.0
    sns.histplot(hours, bins=bins, color="#2f6db5", ax=ax)
    if len(hours):
        ax.axvline(float(np.median(hours)), color="#c0392b", linestyle="--", label=f"median {np.median(hours):.1f} h")
        ax.legend(frameon=False, fontsize="small")
    ax.set_xlabel("hours from step 1")
    ax.set_ylabel("people")
    ax.set_title("Time to convert")
    ax.figure.tight_layout()
    return ax
