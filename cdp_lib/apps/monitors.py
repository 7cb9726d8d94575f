"""The monitors section of the KPI app: each monitor's latest stored result and recent alerts."""

from __future__ import annotations

import html

import pandas as pd

from cdp_lib.apps.base import table_html
from cdp_lib.display import format as fmt
from cdp_lib.monitors import alerts_table, results_table
from cdp_lib.workspace import Workspace


def monitors_html(ws: Workspace, alerts: int = 5) -> str:
    """A card per monitor (latest result, red when triggered) and the newest alerts."""
    res = results_table(ws)
    if res.empty:
        return ("<h4>Monitors</h4><div class='cdp-label'>no monitor has run yet: "
                "<code>cdp monitor run</code> (a daily scheduler job)</div>")
    latest = res.sort_values("as_of", ascending=False).drop_duplicates("monitor").sort_values("monitor")
    cards = []
    for r in latest.itertuples(index=False):
        css = "cdp-down-bad" if r.triggered else "cdp-flat"
        state = "triggered" if r.triggered else "ok"
        value = _value(r.value_1)
        cards.append(f'<div class="cdp-card" data-monitor="{html.escape(r.monitor)}">'
                     f'<div class="cdp-label">{html.escape(r.monitor)}</div>'
                     f'<div class="cdp-value {css}" style="font-size:18px">{state}</div>'
                     f'<div class="cdp-label">{pd.Timestamp(r.as_of):%Y-%m-%d}: {value}</div></div>')
    recent = alerts_table(ws, limit=alerts)
    table = "" if recent.empty else table_html(recent[["as_of", "monitor", "message"]].astype(str))
    return f"<h4>Monitors</h4><div class='cdp-cards'>{''.join(cards)}</div>{table}"


def _value(v) -> str:
    """A monitor's value as people read it: `63,816`, `547.16`, `0.0102` (rates keep 4 places),
    never scientific notation."""
    if fmt.is_missing(v):
        return fmt.MISSING
    v = float(v)
    return fmt.number(v, None if v == 0 or abs(v) >= 1 else 4)
