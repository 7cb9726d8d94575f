"""Segment charts: sizes over time and the overlap heatmap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def _axes(ax, size):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_segment_sizes(sizes: pd.DataFrame, ax=None):
    """Members per segment: a line per segment over refreshes, or bars after a single refresh."""
    df = sizes if isinstance(sizes, pd.DataFrame) else sizes.execute()
    df = df.assign(as_of=pd.to_datetime(df["as_of"]).dt.tz_localize(None).dt.normalize())
    ax = _axes(ax, (9, max(3, 0.28 * df["segment"].nunique())))
    if df["as_of"].nunique() <= 1:
        last = df.sort_values("members", ascending=False)
        sns.barplot(last, y="segment", x="members", color="#4c72b0", ax=ax)
        ax.set(xlabel="members", ylabel="")
    else:
        sns.lineplot(df, x="as_of", y="members", hue="segment", marker="o", ax=ax)
        ax.set(xlabel="as of", ylabel="members")
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize="small")
    ax.set_title("Segment sizes (members)")
    return ax


def plot_overlap(matrix: pd.DataFrame, ax=None, share: bool = True):
    """Heatmap of an `overlap_table`; with `share`, each row as a % of that row's segment."""
    data = matrix.div(pd.Series(matrix.values.diagonal(), index=matrix.index).where(lambda s: s > 0), axis=0) * 100 if share else matrix
    n = len(matrix)
    ax = _axes(ax, (max(6, 0.45 * n + 3), max(4, 0.4 * n + 2)))
    sns.heatmap(data, annot=n <= 15, fmt=".0f", cmap="Blues", cbar_kws={"label": "% of row segment" if share else "people"}, ax=ax)
    ax.set(xlabel="", ylabel="", title="Segment overlap" + (" (% of row segment)" if share else ""))
    return ax
