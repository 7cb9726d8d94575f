"""Catalog insight charts: repeat-timing histograms and a co-purchase heatmap of top products."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_lib.plots.base import axes_for


def plot_timing_histogram(histogram: pd.DataFrame, items, key: str = "product_id", ax=None):
    """Weekly buckets of days to the next order (`timing_histogram_table`), one line per item."""
    ax = axes_for(ax, (7, 3))
    for item in items:
        sub = histogram[histogram[key] == item].sort_values("week")
        share = sub["purchases"] / max(sub["purchases"].sum(), 1)
        ax.plot(sub["week"], share, marker="o", ms=3, lw=1.2, label=str(item))
    ax.set_xlabel("weeks until the next order")
    ax.set_ylabel("share of repeat purchases")
    ax.set_title("When do buyers order again?")
    ax.legend(frameon=False, fontsize="x-small", ncol=2)
    ax.figure.tight_layout()
    return ax


def plot_co_purchase_heatmap(same_cart: pd.DataFrame, items, key: str = "product_id", ax=None):
    """Co-purchase rate (row: product, column: other product) among `items`."""
    items = list(items)
    other = f"other_{key}"
    grid = np.full((len(items), len(items)), np.nan)
    pos = {it: i for i, it in enumerate(items)}
    for row in same_cart.itertuples(index=False):
        a, b = getattr(row, key), getattr(row, other)
        if a in pos and b in pos:
            grid[pos[a], pos[b]] = row.co_purchase_rate
    ax = axes_for(ax, (1.6 + 0.45 * len(items), 1.2 + 0.4 * len(items)))
    image = ax.imshow(grid, cmap="Blues", vmin=0)
    ax.set_xticks(range(len(items)), [str(i) for i in items], rotation=90, fontsize="x-small")
    ax.set_yticks(range(len(items)), [str(i) for i in items], fontsize="x-small")
    ax.set_xlabel("bought in the same order")
    ax.set_title("Co-purchase rate of the top products", fontsize="small")
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    ax.figure.tight_layout()
    return ax
