"""Funnel explorer: steps, window, dates, breakdown, an exclusion and a comparison period; the
chart, the conversion-% breakdown and the people who dropped at a step (list, CSV, segment)."""

from __future__ import annotations

import datetime as dt

import ibis
import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, table_html
from cdp_lib.apps.inputs import FieldError, check_date_range
from cdp_lib.apps.people import PeoplePanel
from cdp_lib.funnel import breakdown_column, funnel_frame, funnel_params, funnel_people_table
from cdp_lib.funnel.explore import compare_steps, dropped_at_step_table
from cdp_lib.kpi import latest_event_day
from cdp_lib.periods import COMPARISONS, comparison_period
from cdp_lib.plots.explorers import plot_conversion_breakdown, plot_conversion_comparison
from cdp_lib.plots.funnel import plot_funnel
from cdp_lib.plots.kpi import figure_png
from cdp_lib.segments.lists import list_definition
from cdp_lib.workspace import Workspace

NONE = "—"
NO_COMPARISON = "no comparison"
SLOTS = 5
DEFAULT_STEPS = ("Viewed Product", "Added to Cart", "Started Checkout", "Placed Order")
WINDOWS = ["1h", "1d", "7d", "14d", "30d"]
BREAKDOWNS = [NONE, "channel", "source", "source_name", "country", "region", "city"]
SHOWN = ["step", "metric", "profiles", "conversion_from_start", "conversion_from_previous", "drop_off",
         "median_seconds_to_step"]
COMPARED = ["profiles_compared", "conversion_from_start_compared", "change_points"]


class FunnelExplorerApp(App):
    """An ordered funnel over the workspace's events.

    The per-person funnel (`funnel_people_table`) is computed once per definition and held in
    memory: picking the step whose drop-outs to list, and saving them, read it, not the events.
    """

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
        self.compare = widgets.Dropdown(options=[NO_COMPARISON, *COMPARISONS.values()], value=NO_COMPARISON,
                                        description="Compare")
        self.exclude = widgets.Dropdown(options=[NONE, *metrics], value=NONE, description="Exclude",
                                        layout=widgets.Layout(width="260px"))
        self.exclude_after = widgets.Dropdown(options=list(range(1, SLOTS + 1)), value=1, description="after step",
                                              layout=widgets.Layout(width="160px"))
        self.exclude_before = widgets.Dropdown(options=list(range(1, SLOTS + 1)), value=len(defaults) or 2,
                                               description="before step", layout=widgets.Layout(width="170px"))
        self.dropped_step = widgets.Dropdown(options=[], description="Dropped", layout=widgets.Layout(width="420px"))
        self.steps_message, self.dates_message, self.exclusion_message = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.field_messages = {"steps": self.steps_message, "start": self.dates_message, "end": self.dates_message,
                               "exclusion": self.exclusion_message}
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="760px"))
        self.extra_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="760px"))
        self.period_html = widgets.HTML()
        self.table = widgets.HTML()
        self.panel = PeoplePanel("people")
        self.panel.make_definition = self._definition
        self.result: pd.DataFrame | None = None
        self.compared: pd.DataFrame | None = None
        self.people: pd.DataFrame | None = None
        self._key = None
        self._params = None
        self.controls = [*self.steps, self.window, self.start, self.end, self.breakdown, self.compare, self.exclude,
                         self.exclude_after, self.exclude_before]
        for w in self.controls:
            w.observe(self.refresh, "value")
        self.dropped_step.observe(self._on_dropped_step, "value")
        self.container = self._frame([
            widgets.HBox(self.steps[:3]), widgets.HBox(self.steps[3:]), self.steps_message,
            widgets.HBox([self.window, self.start, self.end, self.dates_message]),
            widgets.HBox([self.breakdown, self.compare]),
            widgets.HBox([self.exclude, self.exclude_after, self.exclude_before, self.exclusion_message]),
            self.period_html, self.chart, self.extra_chart, self.table,
            widgets.HTML("<h4>People who dropped at a step</h4>"), self.dropped_step, self.panel.container,
        ])
        self.refresh()

    # -- inputs ----------------------------------------------------------------------------------
    @property
    def params(self):
        """The funnel picked in the controls, checked first (messages go next to the control)."""
        chosen = [s.value for s in self.steps if s.value != NONE]
        if len(chosen) < 2:
            raise FieldError("steps", "Pick at least two steps: a funnel needs a start and a goal.")
        start, end = check_date_range(self.start.value, self.end.value)
        exclusions = []
        if self.exclude.value != NONE:
            a, b = self.exclude_after.value, self.exclude_before.value
            if not 1 <= a < b <= len(chosen):
                raise FieldError("exclusion", f"Exclude {self.exclude.value} after step {a} and before step {b}: "
                                              f"pick steps with after < before, both from 1 to {len(chosen)}.")
            exclusions = [{"metric": self.exclude.value, "after_step": a, "before_step": b}]
        breakdown = None if self.breakdown.value == NONE else self.breakdown.value
        return funnel_params(chosen, self.window.value, start, end, breakdown, exclusions=exclusions)

    # -- one re-render path -------------------------------------------------------------------
    def render(self, ws: Workspace) -> None:
        params = self.params
        snapshot = self.reader.snapshot if self.reader else None
        key = (snapshot, params, self.compare.value)
        if key == self._key:
            return
        if self._key is None or self._key[:2] != (snapshot, params):  # a new comparison alone reuses the funnel
            self._params = params
            self.people = funnel_people_table(ws, params).execute()
            self.result = funnel_frame(ws, params, people=ibis.memtable(self.people))
        bd = breakdown_column(params)
        self.chart.value = figure_png(plot_funnel(self.result, bd))
        shown = self.result
        period = f"<b>{params.from_date:%Y-%m-%d} – {params.to_date:%Y-%m-%d}</b>"
        self.compared, self.extra_chart.value = None, b""
        kind = next((k for k, label in COMPARISONS.items() if label == self.compare.value), None)
        if kind:
            c_start, c_end = comparison_period(params.from_date, params.to_date, kind)
            other = funnel_params([s for s in params.steps], params.window, c_start, c_end, params.breakdown,
                                  params.top_n, params.exclusions)
            self.compared = compare_steps(self.result, funnel_frame(ws, other), bd)
            shown = self.compared
            period += f" compared with <b>{c_start:%Y-%m-%d} – {c_end:%Y-%m-%d}</b> ({self.compare.value})"
            if not bd:
                labels = (f"{params.from_date:%Y-%m-%d} – {params.to_date:%Y-%m-%d}",
                          f"{c_start:%Y-%m-%d} – {c_end:%Y-%m-%d}")
                self.extra_chart.value = figure_png(plot_conversion_comparison(self.compared, labels))
        if bd and not self.extra_chart.value:
            self.extra_chart.value = figure_png(plot_conversion_breakdown(self.result, bd))
        self.period_html.value = f"<div class='cdp-period'>Entering the funnel {period}</div>"
        self.table.value = self._table_html(shown, bd)
        labels = [f"{s}. {m}" for s, m in zip(self.result["step"], self.result["metric"])]
        options = [(f"after {labels[k - 1]} (did not reach {labels[k]})", k) for k in range(1, len(params.steps))]
        self._key = key
        keep = self.dropped_step.value if self.dropped_step.value in [o[1] for o in options] else 1
        self.dropped_step.unobserve(self._on_dropped_step, "value")
        self.dropped_step.options = options
        self.dropped_step.value = keep
        self.dropped_step.observe(self._on_dropped_step, "value")
        self.show_dropped(keep)

    def _table_html(self, shown: pd.DataFrame, bd: str | None) -> str:
        cols = [*([bd] if bd else []), *[c for c in SHOWN if c in shown.columns],
                *[c for c in COMPARED if c in shown.columns]]
        out = pd.DataFrame(index=shown.index)
        for c in cols:  # percentages in %, seconds in hours; the order stays
            if c.startswith("conversion_"):
                out[f"pct_{c}"] = 100 * shown[c]
            elif c == "median_seconds_to_step":
                out["median_hours_to_step"] = shown[c] / 3600
            else:
                out[c] = shown[c]
        decimals = {c: 1 for c in out.columns if c.startswith("pct_") or c in {"change_points", "median_hours_to_step"}}
        return table_html(out, decimals, max_rows=60)

    def clear(self) -> None:
        """An invalid input: the old funnel does not stay on screen."""
        self._key, self.result, self.compared, self.people = None, None, None, None
        self.chart.value = self.extra_chart.value = b""
        self.table.value = self.period_html.value = ""
        self.panel.clear()

    # -- drop-outs -----------------------------------------------------------------------------
    def _on_dropped_step(self, change) -> None:
        if change["new"] is not None and self.people is not None:
            self.show_dropped(change["new"])

    def show_dropped(self, step: int) -> None:
        """List the people whose furthest step is `step`."""
        params = self._params
        people = dropped_at_step_table(self.ws, ibis.memtable(self.people), step, len(params.steps)).execute()
        nxt = params.steps[step].metric
        here = params.steps[step - 1].metric
        self.panel.show(
            people, f"Reached {step}. {here}, did not reach {step + 1}. {nxt} "
                    f"({params.from_date:%Y-%m-%d} – {params.to_date:%Y-%m-%d})",
            f"funnel_dropped_step_{step}_{params.from_date:%Y-%m-%d}_{params.to_date:%Y-%m-%d}.csv",
            f"Funnel dropped after {here} {params.from_date:%Y-%m-%d} to {params.to_date:%Y-%m-%d}",
        )

    def _definition(self, name: str, mode: str) -> dict:
        params = self._params
        step = self.dropped_step.value
        what = (f"Funnel {' > '.join(s.metric for s in params.steps)} (window {self.window.value}): reached "
                f"step {step}, not step {step + 1}, entering {params.from_date:%Y-%m-%d} – {params.to_date:%Y-%m-%d}")
        return list_definition(name, self.panel.people["profile_id"], f"{what} (fixed list)")
