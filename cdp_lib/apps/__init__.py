"""Voila apps: ipywidgets layouts over the library (widgets live only in this package).

Each app is one object with a `container` to display and one re-render path (`refresh`).
App notebooks in `notebooks/apps/` are three lines: parameters, `app = XApp(db=db)`,
`app.container`. Serve one with `cdp app NAME`.
"""

from cdp_lib.apps.base import App
from cdp_lib.apps.customer360 import Customer360App
from cdp_lib.apps.funnel import FunnelExplorerApp
from cdp_lib.apps.kpi import KpiApp
from cdp_lib.apps.rfm import RfmExplorerApp
from cdp_lib.apps.segment_builder import SegmentBuilderApp

__all__ = ["App", "Customer360App", "FunnelExplorerApp", "KpiApp", "RfmExplorerApp", "SegmentBuilderApp"]
