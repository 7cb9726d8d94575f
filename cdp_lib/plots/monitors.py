"""Monitor charts: each condition's daily value with its threshold and the trigger days marked."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from cdp_lib.plots.base import axes_for


def plot_monitor_series(days: pd.DataFrame, monitor, condition: int = 1, ax=None):
    """One condition of one monitor over time (`evaluate_days` output).

    For `compare: value` the line is the period value and the dashed line the threshold; for a
    change the line is the rise or fall (% or absolute) against the previous period. Days on which the
    whole monitor triggered are marked in red.
    """
    ax = axes_for(ax, (7, 2.6))
    cond = monitor.conditions[condition - 1]
    y = days[f"value_{condition}"] if cond.compare == "value" else days[f"change_{condition}"]
    x = pd.to_datetime(days["as_of"])
    ax.plot(x, y.astype("float64"), color="#2f6db5", lw=1.5)
    ax.axhline(cond.threshold, color="#999999", ls="--", lw=1, label=f"threshold {cond.threshold:g}")
    hit = days["triggered"].astype(bool).to_numpy()
    ax.scatter(x[hit], y.astype("float64")[hit], color="#b00020", zorder=3, s=18, label="triggered")
    moved = "rise" if cond.direction == "up" else "fall"
    unit = {"value": cond.measure, "relative_change": f"{moved} %", "absolute_change": moved}[cond.compare]
    ax.set_ylabel(unit)
    ax.set_title(monitor.name, fontsize="small")
    ax.legend(frameon=False, fontsize="x-small", loc="best")
    ax.figure.autofmt_xdate()
    ax.figure.tight_layout()
    return ax


def plot_monitors(series: dict[str, pd.DataFrame], monitors: dict):
    """One panel per monitor condition (`monitor_series`); returns the array of axes."""
    panels = [(name, i) for name, m in monitors.items() if name in series for i in range(1, len(m.conditions) + 1)]
    fig, axes = plt.subplots(max(len(panels), 1), 1, figsize=(7.5, 2.6 * max(len(panels), 1)), squeeze=False)
    for ax, (name, i) in zip(axes[:, 0], panels):
        plot_monitor_series(series[name], monitors[name], i, ax=ax)
    fig.tight_layout()
    return axes[:, 0]
