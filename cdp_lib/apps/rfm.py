"""RFM explorer: groups at a start and an end date, the flows between them, revenue share, and the
customers of a group or of a transition (listed, downloaded, saved as a segment)."""

from __future__ import annotations

import datetime as dt
import html

import ibis
import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, table_html
from cdp_lib.apps.inputs import check_date_range
from cdp_lib.apps.people import PeoplePanel, csv_link  # noqa: F401  (csv_link: kept for importers)
from cdp_lib.kpi import latest_event_day
from cdp_lib.plots.explorers import plot_group_change, plot_revenue_share
from cdp_lib.plots.kpi import figure_png
from cdp_lib.plots.rfm import plot_group_distribution
from cdp_lib.rfm import (
    GROUP_ORDER, NEVER_PURCHASED, NOT_SCORED, RfmChange, rfm_change, rfm_change_medians_table,
    rfm_distribution_table, rfm_transition_table,
)
from cdp_lib.rfm.transitions import (
    rfm_pairs_table, rfm_revenue_share_table, transition_label, transition_members_table,
)
from cdp_lib.segments.lists import transition_list, transition_rule
from cdp_lib.workspace import Workspace

CUSTOMER_COLUMNS = ["profile_id", "external_id", "email", "recency_days", "frequency", "monetary", "rfm_group"]
SAVE_LIST, SAVE_RULE = "these customers (fixed list)", "rule (follows cdp rfm)"


def transition_matrix(transitions: pd.DataFrame) -> pd.DataFrame:
    """`rfm_transition_table` rows as a from-group x to-group matrix in report order."""
    rows = [NEVER_PURCHASED, *GROUP_ORDER]
    cols = [*GROUP_ORDER, NOT_SCORED]
    m = transitions.pivot_table(index="from_group", columns="to_group", values="customers", aggfunc="sum", fill_value=0)
    m = m.reindex(index=[r for r in rows if r in m.index], columns=[c for c in cols if c in m.columns], fill_value=0)
    return m.rename_axis(index="from \\ to", columns=None).reset_index()


class RfmExplorerApp(App):
    """Pick start and end dates; see distribution, change, revenue share and transitions; click a
    transition to list its customers and save them as a segment.

    The two dates' scores are computed once per pair of dates and kept in memory; every other
    interaction (a group, a transition, saving) reads them, not the workspace.
    """

    title = "RFM explorer"

    def __init__(self, db=None, workspace=None, params=None):
        super().__init__(db, workspace)
        self.params = params
        end = latest_event_day(self.ws)
        self.start = widgets.DatePicker(value=end - dt.timedelta(days=90), description="Start")
        self.end = widgets.DatePicker(value=end, description="End")
        self.dates_message = widgets.HTML()
        self.field_messages = {"start": self.dates_message, "end": self.dates_message}
        self.group = widgets.Dropdown(options=list(GROUP_ORDER), value=GROUP_ORDER[0], description="Group")
        self.distribution_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        self.change_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        self.share_chart = widgets.Image(format="png", layout=widgets.Layout(max_width="560px"))
        self.distribution_html = widgets.HTML()
        self.share_html = widgets.HTML()
        self.matrix_box = widgets.VBox()
        self.medians_html = widgets.HTML()
        self.customers_html = widgets.HTML()
        self.panel = PeoplePanel("customers", (SAVE_LIST, SAVE_RULE))
        self.panel.make_definition = self._definition
        self.panel.count_members = self._count
        self.change: RfmChange | None = None
        self.distribution = self.transitions = self.medians = self.customers = self.share = None
        self.pairs: pd.DataFrame | None = None
        self.selected: tuple[str, str] | None = None
        self.matrix_buttons: dict[tuple[str, str], widgets.Button] = {}
        self._key = None
        self.controls = [self.start, self.end, self.group]
        for w in self.controls:
            w.observe(self.refresh, "value")
        self.container = self._frame([
            widgets.HBox([self.start, self.end, self.dates_message]),
            widgets.HBox([self.distribution_chart, self.change_chart]),
            widgets.HTML("<h4>Customers per group</h4>"), self.distribution_html,
            widgets.HTML("<h4>Revenue share per group (end date)</h4>"), widgets.HBox([self.share_html, self.share_chart]),
            widgets.HTML("<h4>Group changes: click a number to list those customers</h4>"
                         "<div class='cdp-label'>rows: group at the start date · columns: group at the end date</div>"),
            self.matrix_box, self.panel.container,
            widgets.HTML("<h4>Group medians</h4>"), self.medians_html,
            widgets.HTML("<h4>Customers in a group (at the end date)</h4>"), self.group, self.customers_html,
        ])
        self.refresh()

    # -- one re-render path -------------------------------------------------------------------
    def render(self, ws: Workspace) -> None:
        start, end = check_date_range(self.start.value, self.end.value, start_label="Start", end_label="End",
                                      strict=True)
        key = (self.reader.snapshot if self.reader else None, start, end)
        if key != self._key:  # picking a group or a transition alone does not recompute the scores
            self._compute(ws, start, end)
            self._key = key
        end_rfm = self._end
        cols = [c for c in CUSTOMER_COLUMNS if c in end_rfm.columns]
        members = end_rfm.filter(end_rfm.rfm_group == self.group.value).select(*cols).order_by("profile_id").execute()
        self.customers = members
        name = f"rfm_{self.group.value.lower().replace(' ', '_')}_{end:%Y-%m-%d}.csv"
        self.customers_html.value = (
            f"<div class='cdp-label'><b class='cdp-members'>{len(members):,}</b> customers in "
            f"{html.escape(self.group.value)} on {end:%Y-%m-%d} · {csv_link(members, name)}</div>"
            + table_html(members, {"monetary": 2}, max_rows=25)
        )

    def _compute(self, ws: Workspace, start: dt.date, end: dt.date) -> None:
        self.change = rfm_change(ws, start, end, self.params)
        # The two dates' scores, computed once into temporary tables of the (read-only) snapshot
        # connection; every table shown, and the group and transition lists, read from them.
        self._start, self._end = self.change.start.cache(), self.change.end.cache()
        s, e = self._start, self._end
        self.distribution = rfm_distribution_table(s, e).execute()
        self.transitions = rfm_transition_table(s, e).execute()
        medians = rfm_change_medians_table(s, e, start, end).execute()
        medians["as_of"] = pd.to_datetime(medians["as_of"]).dt.strftime("%Y-%m-%d")
        self.medians = medians
        self.share = rfm_revenue_share_table(e).execute()
        self.pairs = rfm_pairs_table(s, e).execute()
        self.distribution_html.value = table_html(self.distribution, {"pct_change": 1})
        shown_share = self.share.rename(columns={"customer_share": "customer_share_pct",
                                                 "revenue_share": "revenue_share_pct"})
        self.share_html.value = table_html(shown_share, {"revenue": 2, "customer_share_pct": 1, "revenue_share_pct": 1})
        self.medians_html.value = table_html(self.medians, {"median_recency_days": 1, "median_frequency": 1})
        self.distribution_chart.value = figure_png(plot_group_distribution(self.distribution))
        self.change_chart.value = figure_png(plot_group_change(self.distribution))
        self.share_chart.value = figure_png(plot_revenue_share(self.share))
        self._build_matrix()
        if self.selected in self.matrix_buttons:  # keep the picked transition across new dates
            self.select_transition(*self.selected)
        else:
            self.panel.clear()

    def clear(self) -> None:
        """An invalid date: nothing computed for the old dates stays on screen."""
        self._key = None
        self.distribution = self.transitions = self.medians = self.customers = self.share = self.pairs = None
        for w in (self.distribution_html, self.share_html, self.medians_html, self.customers_html):
            w.value = ""
        for w in (self.distribution_chart, self.change_chart, self.share_chart):
            w.value = b""
        self.matrix_box.children = ()
        self.matrix_buttons = {}
        self.panel.clear()

    # -- transitions ----------------------------------------------------------------------------
    def _build_matrix(self) -> None:
        matrix = transition_matrix(self.transitions).set_index("from \\ to")
        cell = widgets.Layout(width="118px", height="30px")
        label = widgets.Layout(width="150px", height="30px")
        header = [widgets.HTML("<b>from \\ to</b>", layout=label)] + [
            widgets.HTML(f"<b>{html.escape(c)}</b>", layout=cell) for c in matrix.columns]
        rows = [widgets.HBox(header)]
        self.matrix_buttons = {}
        for from_group, counts in matrix.iterrows():
            cells = [widgets.HTML(f"<b>{html.escape(from_group)}</b>", layout=label)]
            for to_group, n in counts.items():
                b = widgets.Button(description=f"{int(n):,}", layout=cell, disabled=int(n) == 0,
                                   tooltip=f"{transition_label(from_group, to_group)}: {int(n):,} customers")
                b.add_class("cdp-transition")
                b.on_click(lambda _, f=from_group, t=to_group: self.select_transition(f, t))
                self.matrix_buttons[(from_group, to_group)] = b
                cells.append(b)
            rows.append(widgets.HBox(cells))
        self.matrix_box.children = rows

    def select_transition(self, from_group: str, to_group: str) -> None:
        """List the customers who moved from `from_group` to `to_group` (the click on a cell)."""
        if self.pairs is None:
            return
        for key, b in self.matrix_buttons.items():
            b.button_style = "info" if key == (from_group, to_group) else ""
        self.selected = (from_group, to_group)
        people = transition_members_table(ibis.memtable(self.pairs), from_group, to_group).execute()
        start, end = self.change.start_date, self.change.end_date
        label = transition_label(from_group, to_group)
        slug = f"{from_group}_to_{to_group}".lower().replace(" ", "_")
        self.panel.show(
            people, f"{label}: customers between {start:%Y-%m-%d} and {end:%Y-%m-%d}",
            f"rfm_{slug}_{start:%Y-%m-%d}_{end:%Y-%m-%d}.csv",
            f"RFM {from_group} to {to_group} {start:%Y-%m-%d} to {end:%Y-%m-%d}", {"monetary": 2},
        )

    def _count(self, definition: dict) -> int:
        from cdp_lib.segments import count_members

        return count_members(self.ws, definition)

    def _definition(self, name: str, mode: str) -> dict:
        from_group, to_group = self.selected
        if mode == SAVE_RULE:
            return transition_rule(name, from_group, to_group)
        return transition_list(name, from_group, to_group, self.panel.people["profile_id"],
                               self.change.start_date, self.change.end_date)
