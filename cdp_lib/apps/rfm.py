"""RFM explorer: groups at a start and an end date, the flows between them, and who is in a group."""

from __future__ import annotations

import base64
import datetime as dt
import html

import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, table_html
from cdp_lib.kpi import latest_event_day
from cdp_lib.rfm import GROUP_ORDER, NEVER_PURCHASED, NOT_SCORED, RfmChange, rfm_change
from cdp_lib.workspace import Workspace

CUSTOMER_COLUMNS = ["profile_id", "external_id", "email", "recency_days", "frequency", "monetary", "rfm_group"]


def transition_matrix(transitions: pd.DataFrame) -> pd.DataFrame:
    """`rfm_transition_table` rows as a from-group x to-group matrix in report order."""
    rows = [NEVER_PURCHASED, *GROUP_ORDER]
    cols = [*GROUP_ORDER, NOT_SCORED]
    m = transitions.pivot_table(index="from_group", columns="to_group", values="customers", aggfunc="sum", fill_value=0)
    m = m.reindex(index=[r for r in rows if r in m.index], columns=[c for c in cols if c in m.columns], fill_value=0)
    return m.rename_axis(index="from \\ to", columns=None).reset_index()


def csv_link(df: pd.DataFrame, filename: str) -> str:
    """An HTML link that downloads `df` as a CSV file (no server round trip)."""
    data = base64.b64encode(df.to_csv(index=False).encode()).decode()
    return (f'<a class="cdp-download" download="{html.escape(filename)}" '
            f'href="data:text/csv;base64,{data}">Download {len(df):,} customers as CSV</a>')


class RfmExplorerApp(App):
    """Pick start and end dates; see distribution, transitions and medians; list a group."""

    title = "RFM explorer"

    def __init__(self, db=None, workspace=None, params=None):
        super().__init__(db, workspace)
        self.params = params
        end = latest_event_day(self.ws)
        self.start = widgets.DatePicker(value=end - dt.timedelta(days=90), description="Start")
        self.end = widgets.DatePicker(value=end, description="End")
        self.group = widgets.Dropdown(options=list(GROUP_ORDER), value=GROUP_ORDER[0], description="Group")
        self.distribution_html = widgets.HTML()
        self.transitions_html = widgets.HTML()
        self.medians_html = widgets.HTML()
        self.customers_html = widgets.HTML()
        self.change: RfmChange | None = None
        self.distribution = self.transitions = self.medians = self.customers = None
        self._key = None
        self.controls = [self.start, self.end, self.group]
        for w in self.controls:
            w.observe(self.refresh, "value")
        self.container = self._frame([
            widgets.HBox([self.start, self.end]),
            widgets.HTML("<h4>Customers per group</h4>"), self.distribution_html,
            widgets.HTML("<h4>Group changes (rows: group at start, columns: group at end)</h4>"), self.transitions_html,
            widgets.HTML("<h4>Group medians</h4>"), self.medians_html,
            widgets.HTML("<h4>Customers in a group (at the end date)</h4>"), self.group, self.customers_html,
        ])
        self.refresh()

    def render(self, ws: Workspace) -> None:
        key = (self.reader.snapshot if self.reader else None, self.start.value, self.end.value)
        if key != self._key:  # picking a group alone does not recompute the report
            self.change = rfm_change(ws, self.start.value, self.end.value, self.params)
            self.distribution = self.change.distribution.execute()
            self.transitions = self.change.transitions.execute()
            medians = self.change.medians.execute()
            medians["as_of"] = pd.to_datetime(medians["as_of"]).dt.strftime("%Y-%m-%d")
            self.medians = medians
            self.distribution_html.value = table_html(self.distribution, {"pct_change": 1})
            self.transitions_html.value = table_html(transition_matrix(self.transitions))
            self.medians_html.value = table_html(self.medians, {"median_recency_days": 1, "median_frequency": 1})
            self._key = key
        end = self.change.end
        cols = [c for c in CUSTOMER_COLUMNS if c in end.columns]
        members = end.filter(end.rfm_group == self.group.value).select(*cols).order_by("profile_id").execute()
        self.customers = members
        name = f"rfm_{self.group.value.lower().replace(' ', '_')}_{self.end.value:%Y-%m-%d}.csv"
        self.customers_html.value = (
            f"<div class='cdp-label'><b class='cdp-members'>{len(members):,}</b> customers in "
            f"{html.escape(self.group.value)} on {self.end.value:%Y-%m-%d} · {csv_link(members, name)}</div>"
            + table_html(members, {"monetary": 2}, max_rows=25)
        )
