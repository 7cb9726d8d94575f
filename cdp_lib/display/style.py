"""One visual identity for reports and apps: a palette, a font, and titled axes with units.

Charts take their colours from `PALETTE` (and `GROUP_COLOURS` for RFM groups) and finish with
`finish(ax, title, x, y)`, which sets the title and axis labels (units in the label, e.g.
"customers", "revenue (USD)") in `FONT`, light grid lines and no top/right spines. Nothing here
changes matplotlib's global settings.
"""

from __future__ import annotations

FONT = "DejaVu Sans"  # ships with matplotlib: the same glyphs on every machine
INK = "#1f2a37"  # text
MUTED = "#6b7785"  # secondary text, running periods
GRID = "#e3e8ee"
PALETTE = ("#2f6db5", "#e07b39", "#3a9e6f", "#c0392b", "#7d5ba6", "#8c6d46", "#d16ba5", "#7f8c8d",
           "#b8b13a", "#2bb3c0")
UP = "#2e8540"  # green: a rise
DOWN = "#c0392b"  # red: a fall
SEQUENTIAL = "Blues"  # heatmaps

# RFM groups keep their colour in every chart and app (best to worst, then the two extra states).
GROUP_COLOURS = {
    "Champions": "#1b5e20", "Loyal": "#43a047", "Recent": "#2f6db5", "Needs Attention": "#f2a93b",
    "At Risk": "#e07b39", "Inactive": "#9e9e9e", "Never purchased": "#cfd8dc", "Not scored": "#eceff1",
}


def colour(i: int) -> str:
    """The `i`-th palette colour (cycling)."""
    return PALETTE[i % len(PALETTE)]


def group_colour(group: str, i: int = 0) -> str:
    return GROUP_COLOURS.get(group, colour(i))


def finish(ax, title: str | None = None, x: str | None = None, y: str | None = None, grid: str = "y"):
    """Title and axis labels in the house font, light grid on `grid` ('x', 'y', 'both' or ''),
    top and right spines removed; returns `ax`."""
    if title is not None:
        ax.set_title(title, fontfamily=FONT, fontsize=12, color=INK, loc="left", fontweight="bold")
    if x is not None:
        ax.set_xlabel(x, fontfamily=FONT, fontsize=10, color=INK)
    if y is not None:
        ax.set_ylabel(y, fontfamily=FONT, fontsize=10, color=INK)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if grid:
        ax.grid(axis=grid, color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
    ax.tick_params(colors=INK, labelsize=9)
    return ax


def axes(ax=None, size=(8, 4)):
    """`ax`, or the axes of a new figure of `size` inches."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size)
    return ax


# Shared by report HTML and apps: the same font and table look as the charts.
CSS = (f"body{{font-family:'{FONT}',sans-serif;color:{INK}}}"
       ".cdp-summary{background:#f1f4f8;border-left:4px solid #2f6db5;padding:8px 14px;margin:8px 0;"
       "font-size:14px;line-height:1.45}.cdp-note{color:#1f2a37;font-size:13.5px;margin:6px 0}")
