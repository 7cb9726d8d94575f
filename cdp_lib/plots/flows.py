"""A flow (Sankey) chart in plain matplotlib: nodes stacked in two columns, bands as wide as the
number of people moving from a left node to a right node."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path

from cdp_lib.display import format as fmt
from cdp_lib.display import style

NODE_WIDTH = 0.06
GAP_SHARE = 0.02  # space between nodes, as a share of the total


def _band(x0: float, x1: float, y0_top: float, y0_bot: float, y1_top: float, y1_bot: float) -> Path:
    mid = (x0 + x1) / 2
    verts = [(x0, y0_top), (mid, y0_top), (mid, y1_top), (x1, y1_top), (x1, y1_bot), (mid, y1_bot),
             (mid, y0_bot), (x0, y0_bot), (x0, y0_top)]
    codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO, Path.CURVE4, Path.CURVE4,
             Path.CURVE4, Path.CLOSEPOLY]
    return Path(verts, codes)


def plot_flow(flows: pd.DataFrame, source: str, target: str, value: str, left_order: Sequence[str] | None = None,
              right_order: Sequence[str] | None = None, colour: Callable[[str, int], str] | None = None,
              left_title: str = "", right_title: str = "", ax=None):
    """Sankey chart of `flows` (one row per source -> target with a `value` count); nodes with no
    flow are left out. Each node is labelled with its name and count; returns the axes."""
    ax = style.axes(ax, (9, 6))
    colour = colour or (lambda name, i: style.colour(i))
    data = flows[flows[value] > 0].groupby([source, target], as_index=False)[value].sum()
    left_tot = data.groupby(source)[value].sum()
    right_tot = data.groupby(target)[value].sum()
    left = [n for n in (left_order or sorted(left_tot.index)) if n in left_tot.index]
    left += [n for n in left_tot.index if n not in left]
    right = [n for n in (right_order or sorted(right_tot.index)) if n in right_tot.index]
    right += [n for n in right_tot.index if n not in right]
    total = float(data[value].sum())
    ax.set_axis_off()
    if total == 0:
        ax.text(0.5, 0.5, "no customers to draw", ha="center", va="center", color=style.MUTED)
        return ax
    gap = total * GAP_SHARE

    def positions(nodes, totals):
        out, y = {}, total + gap * (len(nodes) - 1)
        for n in nodes:  # top to bottom
            out[n] = [y, y - totals[n]]
            y -= totals[n] + gap
        return out

    lpos, rpos = positions(left, left_tot), positions(right, right_tot)
    x0, x1 = NODE_WIDTH, 1 - NODE_WIDTH
    lcur = {n: lpos[n][0] for n in left}
    rcur = {n: rpos[n][0] for n in right}
    rank_r = {n: i for i, n in enumerate(right)}
    rank_l = {n: i for i, n in enumerate(left)}
    ordered = data.assign(_l=data[source].map(rank_l), _r=data[target].map(rank_r))
    # bands leave a left node in right-node order and reach a right node in left-node order
    slices = {}
    for row in ordered.sort_values(["_l", "_r"]).itertuples():
        s, t, v = getattr(row, source), getattr(row, target), getattr(row, value)
        slices[(s, t)] = [lcur[s], lcur[s] - v]
        lcur[s] -= v
    for row in ordered.sort_values(["_r", "_l"]).itertuples():
        s, t, v = getattr(row, source), getattr(row, target), getattr(row, value)
        top, bot = slices[(s, t)]
        ax.add_patch(PathPatch(_band(x0, x1, top, bot, rcur[t], rcur[t] - v), facecolor=colour(s, rank_l[s]),
                               edgecolor="none", alpha=0.45))
        rcur[t] -= v
    height = total + gap * (max(len(left), len(right)) - 1)
    for nodes, pos, totals, x, ha, lx in ((left, lpos, left_tot, 0, "right", -0.01),
                                          (right, rpos, right_tot, x1, "left", 1.01)):
        for i, n in enumerate(nodes):
            top, bot = pos[n]
            idx = rank_l.get(n, i) if nodes is left else i
            ax.add_patch(Rectangle((x, bot), NODE_WIDTH, top - bot, facecolor=colour(n, idx), edgecolor="white"))
            ax.text(lx, (top + bot) / 2, f"{n}\n{fmt.number(int(totals[n]))}", ha=ha, va="center", fontsize=9,
                    fontfamily=style.FONT, color=style.INK)
    ax.text(NODE_WIDTH / 2, height + gap, left_title, ha="center", va="bottom", fontsize=10, fontweight="bold",
            color=style.INK)
    ax.text(1 - NODE_WIDTH / 2, height + gap, right_title, ha="center", va="bottom", fontsize=10,
            fontweight="bold", color=style.INK)
    ax.set_xlim(-0.28, 1.28)
    ax.set_ylim(-gap, height + 4 * gap)
    return ax
