"""Old import path of the reports index, kept for scripts: see `cdp_lib.reports.index`."""

from cdp_lib.reports.index import INDEX_NAME, collect_alerts, collect_runs, render_index, write_index  # noqa: F401

__all__ = ["INDEX_NAME", "collect_alerts", "collect_runs", "render_index", "write_index"]
