"""Funnel explorer: pick steps, window, date range and breakdown; the chart and table follow."""

from __future__ import annotations

import datetime as dt

import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, table_html
from cdp_lib.funnel import funnel_frame, funnel_params
from cdp_lib.kpi import latest_event_day
from cdp_lib.plots.funnel import plot_funnel
from cdp_lib.plots.kpi import figure_png
from cdp_lib.workspace import Workspace

NONE = "—"
SLOTS = 5
DEFAULT_STEPS = ("Viewed Product", "Added to Cart", "Started Checkout", "Placed Order")
WINDOWS = ["1h", "1d", "7d", "14d", "30d"]
BREAKDOWNS = [NONE, "channel", "source", "source_name", "country", "region", "city"]
SHOWN = ["step", "metric", "profiles", "conversion_from_start", "conversion_from_previous", "drop_off",
         "median_seconds_to_step"]


class FunnelExplorerApp(App):
    """An ordered funnel over the workspace's events."""

    title = "Funnel explorer"

    def __init__(self, db=None, workspace=None):
        super().__init__(db, workspace)
        ws = self.ws
        metrics = sorted(ws.events.select("metric").distinct().execute()["metric"].dropna().tolist())
        defaults = [m for m in DEFAULT_STEPS if m in metrics] or metrics[:2]
        self.steps = [
            widgets.Dropdown(options=[NONE, *metrics], value=defaults[i] if i < len(defaults) else NONE,
                             description=f"Step {i + 1}", layout=widgets.Layout(width="260px"))
            for i in range(SLOTS)
        ]
        end = latest_event_day(ws)
        self.window = widgets.Dropdown(options=WINDOWS, value="7d", description="Window")
        self.start = widgets.DatePicker(value=end - dt.timedelta(days=29), description="From")
        self.end = widgets.DatePicker(value=end, description="To")
        known = set(ws.events.columns) | set(ws.profiles.columns)
        self.breakdown = widgets.Dropdown(options=[b for b in BREAKDOWNS if b == NONE or b in known],
                                          value=NONE, description="Breakdown")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="760px"))
        self.table = widgets.HTML()
        self.result: pd.DataFrame | None = None
        self.controls = [*self.steps, self.window, self.start, self.end, self.breakdown]
        for w in self.controls:
            w.observe(self.refresh, "value")
        self.container = self._frame([
            widgets.HBox(self.steps[:3]), widgets.HBox(self.steps[3:]),
            widgets.HBox([self.window, self.start, self.end, self.breakdown]),
            self.chart, self.table,
        ])
        self.refresh()

    @property
    def params(self):
        chosen = [s.value for s in self.steps if s.value != NONE]
        breakdown = None if self.breakdown.value == NONE else self.breakdown.value
        return funnel_params(chosen, self.window.value, self.start.value, self.end.value, breakdown)

    def render(self, ws: Workspace) -> None:
        params = self.params
        self.result = funnel_frame(ws, params)
        breakdown = [c for c in self.result.columns if c not in SHOWN and c not in {"mean_seconds_to_step"}]
        self.chart.value = figure_png(plot_funnel(self.result, breakdown[0] if breakdown else None))
        shown = self.result[[*breakdown, *[c for c in SHOWN if c in self.result.columns]]].copy()
        if "median_seconds_to_step" in shown:
            shown["median_hours_to_step"] = shown.pop("median_seconds_to_step") / 3600
        self.table.value = table_html(
            shown, {"conversion_from_start": 3, "conversion_from_previous": 3, "median_hours_to_step": 1}, max_rows=60
        )
