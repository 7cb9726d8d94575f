"""KPI dashboard: a date range against the equal-length period before it."""

from __future__ import annotations

import datetime as dt
import html
from typing import Sequence

import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, fmt
from cdp_lib.apps.monitors import monitors_html
from cdp_lib.kpi import ACCOUNT_DASHBOARD, PLACED_ORDER_AOV, Kpi, Period, kpi_breakdown, latest_event_day, kpi_overview, kpi_series
from cdp_lib.plots.kpi import figure_png, plot_kpi_breakdown, plot_kpi_series
from cdp_lib.workspace import Workspace

PRESETS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Custom": None}
DECIMALS = {"average_value": 2, "value": 2, "attributed_value": 2}


def cards_html(overview: pd.DataFrame, kpis: Sequence[Kpi]) -> str:
    """Headline cards: value, previous value and % change coloured by good/bad news."""
    cards = []
    for kpi, row in zip(kpis, overview.itertuples(index=False)):
        d = DECIMALS.get(kpi.measure, 0)
        if row.direction == "flat":
            css, arrow = "cdp-flat", "→"
        else:
            css = f"cdp-{row.direction}-{'good' if row.good else 'bad'}"
            arrow = "▲" if row.direction == "up" else "▼"
        change = "n/a" if pd.isna(row.change_pct) else f"{row.change_pct:+.1f}%"
        cards.append(
            f'<div class="cdp-card" data-metric="{html.escape(row.metric)}">'
            f'<div class="cdp-label">{html.escape(row.metric)}</div>'
            f'<div class="cdp-value">{fmt(row.value, d)}</div>'
            f'<div class="cdp-change {css}">{arrow} {change}</div>'
            f'<div class="cdp-label">previous: <span class="cdp-previous">{fmt(row.previous, d)}</span></div></div>'
        )
    return f'<div class="cdp-cards">{"".join(cards)}</div>'


class KpiApp(App):
    """Headline KPIs with % change, the service-interaction breakdown and AOV over time.

    Parameters
    ----------
    db, workspace
        See `App`.
    kpis
        The headline metrics (default: the customer-account dashboard).
    breakdown
        The KPI split by event name in the chart (default: service interactions).
    """

    title = "KPI overview"

    def __init__(self, db=None, workspace=None, kpis: Sequence[Kpi] = ACCOUNT_DASHBOARD,
                 breakdown: Kpi | None = None, series: Kpi = PLACED_ORDER_AOV):
        super().__init__(db, workspace)
        self.kpis = tuple(kpis)
        self.breakdown_kpi = breakdown or next(k for k in ACCOUNT_DASHBOARD if k.label == "Service interactions")
        self.series_kpi = series
        end = latest_event_day(self.ws)
        self.preset = widgets.Dropdown(options=list(PRESETS), value="Last 30 days", description="Range")
        self.start = widgets.DatePicker(value=end - dt.timedelta(days=29), description="From")
        self.end = widgets.DatePicker(value=end, description="To")
        self.comparison = widgets.HTML()
        self.cards = widgets.HTML()
        self.breakdown_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        self.series_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        self.monitors = widgets.HTML()  # latest monitor results and alerts (cdp_lib.apps.monitors)
        self.overview: pd.DataFrame | None = None
        self.breakdown: pd.DataFrame | None = None
        self.series: pd.DataFrame | None = None
        self.controls = [self.preset, self.start, self.end]
        self._anchor = end
        self._setting = False
        self.preset.observe(self._on_preset, "value")
        self.start.observe(self._on_dates, "value")
        self.end.observe(self._on_dates, "value")
        self.container = self._frame([
            widgets.HBox([self.preset, self.start, self.end]),
            self.comparison,
            self.cards,
            widgets.HBox([self.breakdown_chart, self.series_chart]),
            self.monitors,
        ])
        self.refresh()

    def _on_preset(self, change) -> None:
        days = PRESETS[change["new"]]
        if days is None:
            return
        self._setting = True
        try:
            self.end.value = self._anchor
            self.start.value = self._anchor - dt.timedelta(days=days - 1)
        finally:
            self._setting = False
        self.refresh()

    def _on_dates(self, change) -> None:
        if self._setting:
            return
        self._setting = True
        self.preset.value = "Custom"
        self._setting = False
        self.refresh()

    def render(self, ws: Workspace) -> None:
        period = Period.parse(self.start.value, self.end.value)
        prev = period.previous
        self.comparison.value = (
            f"<b>{period.start:%Y-%m-%d} – {period.end:%Y-%m-%d}</b> ({period.days} days) compared with "
            f"<b>{prev.start:%Y-%m-%d} – {prev.end:%Y-%m-%d}</b>"
        )
        self.overview = kpi_overview(ws, period.start, period.end, self.kpis)
        self.cards.value = cards_html(self.overview, self.kpis)
        self.breakdown = kpi_breakdown(ws, period.start, period.end, self.breakdown_kpi)
        self.breakdown_chart.value = figure_png(plot_kpi_breakdown(self.breakdown, self.breakdown_kpi.label))
        freq = "day" if period.days <= 62 else "week"
        self.series = kpi_series(ws, period.start, period.end, self.series_kpi, freq).execute()
        self.series_chart.value = figure_png(plot_kpi_series(self.series, self.series_kpi.label))
        self.monitors.value = monitors_html(ws)
