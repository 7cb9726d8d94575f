"""Voila apps: ipywidgets layouts over the library (widgets live only in this package).

Each app is one object with a `container` to display and one re-render path (`refresh`).
App notebooks in `notebooks/apps/` are three lines: parameters, `app = XApp(db=db)`,
`app.container`. Serve one with `cdp app NAME`.
"""

import importlib

# Class name -> module; classes load on first use so `cdp app` starts without ipywidgets.
_CLASSES = {
    "App": "base",
    "CatalogApp": "catalog",
    "Customer360App": "customer360",
    "FunnelExplorerApp": "funnel",
    "KpiApp": "kpi",
    "RfmExplorerApp": "rfm",
    "SegmentBuilderApp": "segment_builder",
}

__all__ = sorted(_CLASSES)


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(f"{__name__}.{_CLASSES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
