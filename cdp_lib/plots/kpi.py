"""Charts for the KPI overview: a breakdown of a KPI by event name and a KPI over time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cdp_lib.display import style
from cdp_lib.display.settings import currency


def _axes(ax, size=(6, 3)):
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size)
    return ax


def plot_kpi_breakdown(breakdown: pd.DataFrame, title: str = "Service interactions", ax=None,
                       compared_label: str = "previous period"):
    """Horizontal bars, this period next to the comparison (`kpi_breakdown` output)."""
    ax = _axes(ax)
    y = np.arange(len(breakdown))
    ax.barh(y + 0.2, breakdown["previous"], height=0.4, color="#b8c4d6", label=compared_label)
    ax.barh(y - 0.2, breakdown["value"], height=0.4, color=style.colour(0), label="this period")
    ax.set_yticks(y, breakdown["metric"])
    ax.invert_yaxis()
    style.finish(ax, title, "events", None, grid="x")
    ax.legend(loc="lower right", fontsize="small", frameon=False)
    ax.figure.tight_layout()
    return ax


def plot_kpi_series(series: pd.DataFrame, label: str = "Average order value", ax=None):
    """A KPI per period (`kpi_series` output: period, value) as a line with markers."""
    ax = _axes(ax)
    ax.plot(pd.to_datetime(series["period"]), series["value"], marker="o", color=style.colour(0))
    money = any(w in label.lower() for w in ("value", "revenue"))
    style.finish(ax, f"{label} over time", "period start (UTC)", f"{label.lower()} ({currency()})" if money else label.lower())
    ax.figure.autofmt_xdate()
    ax.figure.tight_layout()
    return ax


def figure_png(ax_or_fig) -> bytes:
    """PNG bytes of a figure (for image widgets and files); closes pyplot figures."""
    fig = getattr(ax_or_fig, "figure", ax_or_fig)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
