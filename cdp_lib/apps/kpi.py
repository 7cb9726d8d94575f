"""KPI dashboard: a date range against a chosen comparison (the period before, or the same days a
year earlier), with a sparkline per card and the revenue attributed to email and SMS."""

from __future__ import annotations

import base64
import datetime as dt
import html
from typing import Sequence

import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, fmt
from cdp_lib.apps.inputs import check_date_range
from cdp_lib.apps.monitors import monitors_html
from cdp_lib.display import currency as currency_setting
from cdp_lib.display.format import money as display_money
from cdp_lib.kpi import ACCOUNT_DASHBOARD, PLACED_ORDER_AOV, Kpi, Period, kpi_breakdown, latest_event_day, kpi_overview, kpi_series
from cdp_lib.kpi.views import CHANNEL_LABELS, channel_revenue_overview, kpi_sparklines
from cdp_lib.periods import COMPARISONS
from cdp_lib.plots.explorers import sparkline_svg
from cdp_lib.plots.kpi import figure_png, plot_kpi_breakdown, plot_kpi_series
from cdp_lib.workspace import Workspace

PRESETS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Custom": None}
MONEY_MEASURES = {"value", "average_value", "attributed_value"}
ATTRIBUTION_NOTE = (
    "Email- and SMS-attributed revenue: orders placed in the period, each credited to the person's "
    "latest email or SMS interaction before it whose window still covers it (email open or click 5 days, "
    "SMS click 5 days, SMS open 1 day, SMS delivery 12 hours), as in audience performance."
)


def store_currency() -> str:
    """The store's currency: the workspace setting of the display layer (docs/reports.md)."""
    return currency_setting()


def money(value, currency: str | None = None) -> str:
    """`1234.5` -> `$1,234.50` (USD), `€1,234.50`, `¥1,235`: the display layer's money format."""
    return display_money(value, currency or store_currency())


def change_text(change_pct) -> str:
    """`12.34` -> `+12.3 %`; `n/a` when there is nothing to compare with."""
    return "n/a" if change_pct is None or pd.isna(change_pct) else f"{change_pct:+.1f} %"


def _sparkline_img(series: pd.DataFrame | None) -> str:
    if series is None or len(series) < 2:
        return '<div class="cdp-spark cdp-label">no daily trend</div>'
    data = base64.b64encode(sparkline_svg(series).encode()).decode()
    return f'<img class="cdp-spark" alt="daily trend" src="data:image/svg+xml;base64,{data}" width="160" height="36">'


def cards_html(overview: pd.DataFrame, money_metrics: set[str] | Sequence[Kpi] = (), currency: str | None = None,
               sparklines: dict[str, pd.DataFrame] | None = None, compared_label: str = "previous") -> str:
    """Headline cards: value, % change coloured by good/bad news, the comparison's value and a
    sparkline of the period. `money_metrics` are labels (or KPIs, money when their measure is)."""
    if money_metrics and not isinstance(next(iter(money_metrics)), str):
        money_metrics = {k.label for k in money_metrics if k.measure in MONEY_MEASURES}
    cards = []
    for row in overview.itertuples(index=False):
        show = (lambda v: money(v, currency)) if row.metric in money_metrics else (lambda v: fmt(v, 0))
        if row.direction == "flat":
            css, arrow = "cdp-flat", "→"
        else:
            css = f"cdp-{row.direction}-{'good' if row.good else 'bad'}"
            arrow = "▲" if row.direction == "up" else "▼"
        spark = _sparkline_img((sparklines or {}).get(row.metric)) if sparklines is not None else ""
        cards.append(
            f'<div class="cdp-card" data-metric="{html.escape(row.metric)}">'
            f'<div class="cdp-label">{html.escape(row.metric)}</div>'
            f'<div class="cdp-value">{show(row.value)}</div>'
            f'<div class="cdp-change {css}">{arrow} {change_text(row.change_pct)}</div>'
            f'<div class="cdp-label">{html.escape(compared_label)}: <span class="cdp-previous">{show(row.previous)}</span></div>'
            f"{spark}</div>"
        )
    return f'<div class="cdp-cards">{"".join(cards)}</div>'


class KpiApp(App):
    """Headline KPIs with % change, email/SMS-attributed revenue, the service-interaction
    breakdown and AOV over time.

    Parameters
    ----------
    db, workspace
        See `App`.
    kpis
        The headline metrics (default: the customer-account dashboard).
    breakdown
        The KPI split by event name in the chart (default: service interactions).
    currency
        ISO code money is shown in (default: the store's currency setting, USD when unset).
    """

    title = "KPI overview"

    def __init__(self, db=None, workspace=None, kpis: Sequence[Kpi] = ACCOUNT_DASHBOARD,
                 breakdown: Kpi | None = None, series: Kpi = PLACED_ORDER_AOV, currency: str | None = None):
        super().__init__(db, workspace)
        self.kpis = tuple(kpis)
        self.currency = currency or store_currency()
        self.money_metrics = {k.label for k in self.kpis if k.measure in MONEY_MEASURES} | set(CHANNEL_LABELS.values())
        self.breakdown_kpi = breakdown or next(k for k in ACCOUNT_DASHBOARD if k.label == "Service interactions")
        self.series_kpi = series
        end = latest_event_day(self.ws)
        self.preset = widgets.Dropdown(options=list(PRESETS), value="Last 30 days", description="Range")
        self.start = widgets.DatePicker(value=end - dt.timedelta(days=29), description="From")
        self.end = widgets.DatePicker(value=end, description="To")
        self.compare = widgets.Dropdown(options=list(COMPARISONS.values()), value=COMPARISONS["previous"],
                                        description="Compare with", style={"description_width": "initial"})
        self.dates_message = widgets.HTML()
        self.field_messages = {"start": self.dates_message, "end": self.dates_message}
        self.comparison = widgets.HTML()
        self.cards = widgets.HTML()
        self.breakdown_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        self.series_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        self.monitors = widgets.HTML()  # latest monitor results and alerts (cdp_lib.apps.monitors)
        self.overview: pd.DataFrame | None = None
        self.breakdown: pd.DataFrame | None = None
        self.series: pd.DataFrame | None = None
        self.sparklines: dict[str, pd.DataFrame] | None = None
        self._daily: dict[str, pd.DataFrame] = {}
        self._series_key = None
        self.controls = [self.preset, self.start, self.end, self.compare]
        self._anchor = end
        self._setting = False
        self.preset.observe(self._on_preset, "value")
        self.start.observe(self._on_dates, "value")
        self.end.observe(self._on_dates, "value")
        self.compare.observe(self.refresh, "value")
        self.container = self._frame([
            widgets.HBox([self.preset, self.start, self.end, self.compare]),
            self.dates_message,
            self.comparison,
            self.cards,
            widgets.HTML(f"<div class='cdp-label cdp-attribution'>{html.escape(ATTRIBUTION_NOTE)}</div>"),
            widgets.HBox([self.breakdown_chart, self.series_chart]),
            self.monitors,
        ])
        self.refresh()

    @property
    def comparison_kind(self) -> str:
        return next(k for k, label in COMPARISONS.items() if label == self.compare.value)

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

    def clear(self) -> None:
        """An invalid date range: no card or chart of the previous range stays on screen."""
        self.overview = self.breakdown = self.series = self.sparklines = self._series_key = None
        self.comparison.value = self.cards.value = ""
        self.breakdown_chart.value = self.series_chart.value = b""

    def render(self, ws: Workspace) -> None:
        start, end = check_date_range(self.start.value, self.end.value)
        period = Period(start, end)
        kind = self.comparison_kind
        prev = period.compared(kind)
        self.comparison.value = (
            f"<b>{period.start:%Y-%m-%d} – {period.end:%Y-%m-%d}</b> ({period.days} days) compared with "
            f"<b>{prev.start:%Y-%m-%d} – {prev.end:%Y-%m-%d}</b> ({self.compare.value})"
        )
        overview = kpi_overview(ws, period.start, period.end, self.kpis, kind)
        channels, channel_daily = channel_revenue_overview(ws, period, prev)
        self.overview = pd.concat([overview, channels], ignore_index=True)
        key = (self.reader.snapshot if self.reader else None, period)
        if key != self._series_key:  # a new comparison alone keeps the period's daily series
            self._daily = kpi_sparklines(ws, period, self.kpis)
            freq = "day" if period.days <= 62 else "week"
            self.series = kpi_series(ws, period.start, period.end, self.series_kpi, freq).execute()
            self.series_chart.value = figure_png(plot_kpi_series(self.series, self.series_kpi.label))
            self._series_key = key
        self.sparklines = {**self._daily, **channel_daily}
        self.cards.value = cards_html(self.overview, self.money_metrics, self.currency, self.sparklines,
                                      self.compare.value)
        self.breakdown = kpi_breakdown(ws, period.start, period.end, self.breakdown_kpi, kind)
        self.breakdown_chart.value = figure_png(plot_kpi_breakdown(
            self.breakdown, self.breakdown_kpi.label, compared_label=self.compare.value))
        self.monitors.value = monitors_html(ws)
