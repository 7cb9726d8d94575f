"""Charts of the explorer apps: RFM revenue share and group change, funnel conversion in % per
breakdown value and against a comparison period, KPI sparklines. Every `plot_*` takes `ax=None`
and returns the axes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_lib.plots.base import axes_for
from cdp_lib.rfm import GROUP_ORDER

BLUE, GREY, GREEN, RED = "#2f6db5", "#b8c4d6", "#1e8a3c", "#c62828"


def plot_revenue_share(share: pd.DataFrame, ax=None):
    """Per RFM group, % of customers next to % of revenue (`rfm_revenue_share_table` output)."""
    ax = axes_for(ax, (6, 3.2))
    df = share.set_index("rfm_group").reindex(GROUP_ORDER).fillna(0)
    y = np.arange(len(df))
    ax.barh(y + 0.2, df["customer_share"], height=0.4, color=GREY, label="% of customers")
    ax.barh(y - 0.2, df["revenue_share"], height=0.4, color=BLUE, label="% of revenue")
    for i, v in enumerate(df["revenue_share"]):
        ax.annotate(f"{v:.1f} %", (v, i - 0.2), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize="small")
    ax.set_yticks(y, list(df.index))
    ax.invert_yaxis()
    ax.set_xlabel("share (%)")
    ax.set_title("Revenue share per group (end date)")
    ax.legend(loc="lower right", fontsize="small", frameon=False)
    ax.margins(x=0.15)
    ax.figure.tight_layout()
    return ax


def plot_group_change(distribution: pd.DataFrame, ax=None):
    """Per RFM group, customers added (right, green) and dropped (left, red) between the two
    dates, with the net change (`rfm_distribution_table` output)."""
    ax = axes_for(ax, (6, 3.2))
    df = distribution.set_index("rfm_group").reindex(GROUP_ORDER).fillna(0)
    y = np.arange(len(df))
    ax.barh(y, df["added"], color=GREEN, label="added")
    ax.barh(y, -df["dropped"], color=RED, label="dropped")
    for i, (net, right) in enumerate(zip(df["change"], df["added"])):
        ax.annotate(f"net {int(net):+,}", (right, i), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize="small")
    ax.axvline(0, color="#5a6573", linewidth=0.8)
    ax.set_yticks(y, list(df.index))
    ax.invert_yaxis()
    ax.set_xlabel("customers")
    ax.set_title("Group change between the two dates")
    ax.legend(loc="lower left", fontsize="small", frameon=False)
    ax.margins(x=0.2)
    ax.figure.tight_layout()
    return ax


def plot_conversion_breakdown(steps: pd.DataFrame, breakdown: str, ax=None):
    """Conversion from step 1 in % per step, one line per breakdown value (`funnel_frame` output
    with a breakdown)."""
    ax = axes_for(ax, (7, 3.5))
    labels = [f"{s}. {m}" for s, m in steps.drop_duplicates("step")[["step", "metric"]].itertuples(index=False)]
    for value, part in steps.groupby(breakdown, sort=False):
        part = part.sort_values("step")
        ax.plot(part["step"], 100 * part["conversion_from_start"], marker="o", label=str(value))
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=10)
    ax.set_ylim(0, 105)
    ax.set_ylabel("conversion from step 1 (%)")
    ax.set_title(f"Conversion by {breakdown}")
    ax.legend(fontsize="small", frameon=False, ncols=2)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


def plot_conversion_comparison(compared: pd.DataFrame, labels: tuple[str, str], ax=None):
    """Conversion from step 1 in % per step, this period's bars next to the comparison's
    (`compare_steps` output without a breakdown; `labels` name the two periods)."""
    ax = axes_for(ax, (7, 3.5))
    current = compared
    x = np.arange(len(current))
    now = 100 * current["conversion_from_start"]
    then = 100 * current["conversion_from_start_compared"].fillna(0.0)
    ax.bar(x - 0.2, then, width=0.4, color=GREY, label=labels[1])
    ax.bar(x + 0.2, now, width=0.4, color=BLUE, label=labels[0])
    for i, v in enumerate(now):
        ax.annotate(f"{v:.1f} %", (i + 0.2, v), ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [f"{s}. {m}" for s, m in zip(current["step"], current["metric"])], rotation=10)
    ax.set_ylim(0, 115)
    ax.set_ylabel("conversion from step 1 (%)")
    ax.set_title("Conversion against the comparison period")
    ax.legend(fontsize="small", frameon=False)
    ax.figure.tight_layout()
    return ax


def sparkline_svg(series: pd.DataFrame, width: int = 160, height: int = 36, pad: float = 2.0) -> str:
    """The card's trend as SVG markup: a line of `value` over `period` (days placed by date, so a
    day without events leaves a longer segment), scaled to the box; no axes. Drawn without
    matplotlib: ten of these cost microseconds, ten PNG sparklines about a third of a second."""
    days = pd.to_datetime(series["period"]).to_numpy(dtype="datetime64[D]").astype("int64").astype(float)
    values = pd.to_numeric(series["value"], errors="coerce").astype(float).to_numpy()
    keep = ~np.isnan(values)
    days, values = days[keep], values[keep]
    points = ""
    if len(values):
        span_x = (days.max() - days.min()) or 1.0
        low, high = values.min(), values.max()
        xs = pad + (days - days.min()) / span_x * (width - 2 * pad)
        ys = height - pad - (values - low) / (high - low) * (height - 2 * pad) if high > low else np.full(len(values), height / 2)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<polyline fill="none" stroke="{BLUE}" stroke-width="1.2" points="{points}"/></svg>')


def plot_sparkline(series: pd.DataFrame, ax=None):
    """A small line of a KPI per day (`period`, `value`), no axes: the card's trend."""
    ax = axes_for(ax, (2.0, 0.45))
    if len(series):
        ax.plot(pd.to_datetime(series["period"]), series["value"].astype(float), color=BLUE, linewidth=1.2)
    ax.set_axis_off()
    ax.figure.subplots_adjust(0, 0, 1, 1)
    return ax
