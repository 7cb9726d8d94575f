"""Metric references: a raw event name today; named custom metrics join here (issue 5).

`events_for(ws, metric)` is the one way analyses select the events of a metric, so custom
metrics defined in `parameters/metrics/*.yaml` become usable everywhere at once.
"""

from __future__ import annotations

import ibis.expr.types as ir

from cdp_lib.workspace import Workspace


def events_for(ws: Workspace, metric: str) -> ir.Table:
    """Events of `metric` with the canonical event columns (`value` is the metric's value)."""
    ev = ws.events
    return ev.filter(ev.metric == metric)
