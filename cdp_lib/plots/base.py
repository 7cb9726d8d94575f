"""Helpers every chart module shares: the axes to draw on, and a table as a pandas frame."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def axes_for(ax=None, size: tuple[float, float] = (8, 4)):
    """`ax` when given, else the axes of a new figure of `size` inches (width, height)."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size)
    return ax


def frame(data) -> pd.DataFrame:
    """A pandas frame as is; anything else (an Ibis table) executed once."""
    return data if isinstance(data, pd.DataFrame) else data.execute()
