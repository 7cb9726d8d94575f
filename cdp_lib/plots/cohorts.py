"""Cohort charts: a cohorts x periods heatmap and retention curves, one line per cohort.

A period still running (`period_complete` False in `cdp_lib.cohorts.cohort_table`) holds partial
figures: the heatmap greys and hatches its cells instead of colouring them, and the curves leave
it out (or, on request, reach it with a dashed segment and an open marker), so it never reads as
a drop.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from cdp_lib.cohorts import cohort_matrix
from cdp_lib.errors import InputError
from cdp_lib.plots.base import axes_for

PERCENT = {"retention"}
RUNNING_NOTE = "hatched: period still running (partial)"
RUNNING_FACE = "#e6e6e6"


def _matrices(data: pd.DataFrame, value: str, complete: pd.DataFrame | None):
    """(values, completeness) matrices from a long cohort table or from a ready matrix."""
    if "period" in data.columns:  # a long `cohort_table`
        matrix = cohort_matrix(data, value)
        if complete is None and "period_complete" in data.columns:
            complete = cohort_matrix(data, "period_complete")
        return matrix, complete
    return data, complete


def _fmt(v: float, value: str) -> str:
    return f"{v:.0%}" if value in PERCENT else f"{v:,.1f}"


def plot_cohort_heatmap(data: pd.DataFrame, value: str = "retention", ax=None, complete: pd.DataFrame | None = None):
    """Heatmap of cohorts (rows) x period index (columns), the value written in every cell.

    `data` is a long `cohort_table` (its `period_complete` marks running periods) or a
    `cohort_matrix`; with a matrix, pass `complete=cohort_matrix(table, "period_complete")` to
    mark running periods. Running cells are grey and hatched, never coloured on the scale.
    """
    matrix, complete = _matrices(data, value, complete)
    ax = axes_for(ax, (min(2 + 0.6 * matrix.shape[1], 18), min(1.5 + 0.35 * matrix.shape[0], 14)))
    shown = matrix.astype(float)
    labels = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in shown.index]
    running = np.zeros(shown.shape, dtype=bool)
    if complete is not None:
        flags = complete.reindex(index=matrix.index, columns=matrix.columns)
        running = flags.eq(False).to_numpy()  # missing cells (young cohorts) are not running
    values = shown.to_numpy()
    empty = np.isnan(values)
    frame = pd.DataFrame(values, index=labels, columns=shown.columns)
    sns.heatmap(frame, mask=running | empty, annot=False, cmap="Blues", cbar=True, linewidths=0.3, ax=ax,
                vmin=np.nanmin(values[~running]) if (~running & ~empty).any() else None,
                vmax=np.nanmax(values[~running]) if (~running & ~empty).any() else None)
    # every value is written in its cell; the font shrinks with the grid instead of disappearing
    size = max(4.0, min(8.0, 120.0 / max(shown.shape[1], 1)))
    colours = ax.collections[0].cmap, ax.collections[0].norm
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        if running[i, j]:
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=RUNNING_FACE, edgecolor="#9a9a9a", hatch="///",
                                   linewidth=0.3))
            ax.text(j + 0.5, i + 0.5, _fmt(v, value), ha="center", va="center", fontsize=size, color="#555555",
                    style="italic")
        else:
            cmap, norm = colours
            dark = np.mean(cmap(norm(v))[:3]) < 0.5
            ax.text(j + 0.5, i + 0.5, _fmt(v, value), ha="center", va="center", fontsize=size,
                    color="white" if dark else "black")
    ax.set_xlabel("periods since first order (0 = own period)")
    ax.set_ylabel("cohort")
    ax.set_title(value.replace("_", " ").capitalize() + " by cohort")
    if running.any():
        ax.legend(handles=[Patch(facecolor=RUNNING_FACE, edgecolor="#9a9a9a", hatch="///", label=RUNNING_NOTE)],
                  loc="lower left", bbox_to_anchor=(0.0, 1.04), frameon=False, fontsize="small", borderaxespad=0)
        ax.set_title(ax.get_title(), pad=22)
    ax.figure.tight_layout()
    return ax


def plot_retention_curves(long: pd.DataFrame, value: str = "retention", max_cohorts: int = 12, ax=None,
                          running: str = "omit"):
    """One line per cohort over period index (the newest `max_cohorts` cohorts of a `cohort_table`).

    Period 0 is left out (everyone is active in it when the return metric is the cohort metric).
    A running period (`period_complete` False) is left out with `running="omit"` (default) or
    joined by a dashed segment and an open marker with `running="dashed"`.
    """
    if running not in ("omit", "dashed"):
        raise InputError(f"running: expected 'omit' or 'dashed', got {running!r}")
    ax = axes_for(ax, (7, 4))
    cohorts = sorted(long["cohort"].unique())[-max_cohorts:]
    data = long[long["cohort"].isin(cohorts) & (long["period"] > 0)]
    if "period_complete" not in data.columns:
        data = data.assign(period_complete=True)
    palette = sns.color_palette("viridis", max(len(cohorts), 1))
    any_running = False
    for colour, cohort in zip(palette, cohorts):
        rows = data[data["cohort"] == cohort].sort_values("period")
        if rows.empty:
            continue
        done = rows[rows["period_complete"].astype(bool)]
        partial = rows[~rows["period_complete"].astype(bool)]
        any_running = any_running or not partial.empty
        if not done.empty:
            ax.plot(done["period"], done[value], marker="o", color=colour, label=cohort)
        if not partial.empty and running == "dashed":
            bridge = pd.concat([done.tail(1), partial])
            ax.plot(bridge["period"], bridge[value], linestyle="--", color=colour, alpha=0.8)
            ax.plot(partial["period"], partial[value], linestyle="none", marker="o", markerfacecolor="white",
                    color=colour, label=None if not done.empty else cohort)
    if value in PERCENT:
        ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("periods since first order")
    ax.set_ylabel(value.replace("_", " "))
    left_out = "period 0" + (" and running periods" if any_running and running == "omit" else "")
    ax.set_title(value.replace("_", " ").capitalize() + f" curves ({left_out} left out)")
    handles, labels = ax.get_legend_handles_labels()
    if any_running and running == "dashed":
        handles.append(Line2D([], [], linestyle="--", marker="o", markerfacecolor="white", color="grey"))
        labels.append("period still running")
    if handles:
        ax.legend(handles, labels, title="cohort", fontsize="small", frameon=False, ncols=2)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax
