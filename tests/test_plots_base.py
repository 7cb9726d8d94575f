"""The one axes/frame helper every chart module uses (issue 17: `_axes` was copied five times)."""

import pathlib
import re

import ibis
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from cdp_lib.plots.base import axes_for, frame  # noqa: E402


def test_axes_for_returns_the_given_axes_and_creates_no_figure():
    _, ax = plt.subplots()
    before = plt.get_fignums()
    assert axes_for(ax, (3, 2)) is ax
    assert plt.get_fignums() == before
    plt.close("all")


def test_axes_for_without_axes_makes_a_figure_of_the_asked_size():
    ax = axes_for(None, (3, 2))
    assert tuple(ax.figure.get_size_inches()) == (3.0, 2.0)
    plt.close("all")


def test_frame_passes_pandas_through_and_executes_ibis():
    df = pd.DataFrame({"a": [1, 2]})
    assert frame(df) is df
    out = frame(ibis.memtable(df))
    assert list(out["a"]) == [1, 2]


def test_no_chart_module_creates_its_own_single_axes():
    # every `plot_*(ax=None)` takes its axes from plots.base; multi-panel figures may call subplots
    for path in pathlib.Path("cdp_lib/plots").glob("*.py"):
        if path.name == "base.py":
            continue
        text = path.read_text()
        assert not re.search(r"_, ax = plt\.subplots", text), path
        assert "def _axes" not in text and "def _frame" not in text, path
