"""Cohort charts: a cohorts x periods heatmap and retention curves, one line per cohort."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

PERCENT = {"retention"}


def plot_cohort_heatmap(matrix: pd.DataFrame, value: str = "retention", ax=None):
    """Heatmap of a `cohort_matrix` (rows cohorts, columns period index)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(min(2 + 0.55 * matrix.shape[1], 16), min(1.5 + 0.35 * matrix.shape[0], 12)))
    shown = matrix.copy()
    shown.index = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in shown.index]
    small = shown.shape[1] <= 18 and shown.shape[0] <= 24
    sns.heatmap(shown, annot=small, fmt=".0%" if value in PERCENT else ".1f", cmap="Blues", cbar=True,
                linewidths=0.3, annot_kws={"fontsize": 7}, ax=ax)
    ax.set_xlabel("periods since first order (0 = own period)")
    ax.set_ylabel("cohort")
    ax.set_title(value.replace("_", " ").capitalize() + " by cohort")
    ax.figure.tight_layout()
    return ax


def plot_retention_curves(long: pd.DataFrame, value: str = "retention", max_cohorts: int = 12, ax=None):
    """One line per cohort over period index (the newest `max_cohorts` cohorts of a `cohort_table`)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    cohorts = sorted(long["cohort"].unique())[-max_cohorts:]
    data = long[long["cohort"].isin(cohorts) & (long["period"] > 0)]
    sns.lineplot(data=data, x="period", y=value, hue="cohort", marker="o", palette="viridis", ax=ax, errorbar=None)
    if value in PERCENT:
        ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("periods since first order")
    ax.set_ylabel(value.replace("_", " "))
    ax.set_title(value.replace("_", " ").capitalize() + " curves (period 0 left out)")
    ax.legend(title="cohort", fontsize="small", frameon=False, ncols=2)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax
