"""What every app shares: the read-only workspace, one re-render path, loading and error display.

An app is one object with a `container` widget (the notebook displays it) and one method,
`refresh`, that every control calls. `refresh` switches to a newer published snapshot when a
job has published one, shows a loading line and disables the controls while the query runs,
and turns library errors into a readable message instead of a traceback.
"""

from __future__ import annotations

import html
import logging
import os
import time
from typing import Any

import ipywidgets as widgets
import pandas as pd

from cdp_lib.errors import CdpError
from cdp_lib.snapshots import PublishedReader
from cdp_lib.workspace import DEFAULT_PATH, Workspace

log = logging.getLogger(__name__)

CSS = """
<style>
.cdp-cards {display:flex; flex-wrap:wrap; gap:12px; margin:8px 0;}
.cdp-card {border:1px solid #d5dbe3; border-radius:6px; padding:10px 14px; min-width:170px; background:#fafbfc;}
.cdp-card .cdp-label {font-size:12px; color:#5a6573;}
.cdp-card .cdp-value {font-size:24px; font-weight:600; color:#1d2733;}
.cdp-up-good, .cdp-down-good {color:#1e8a3c;} .cdp-up-bad, .cdp-down-bad {color:#c62828;}
.cdp-flat {color:#5a6573;}
.cdp-error {color:#c62828; font-weight:600;}
.cdp-loading {color:#5a6573; font-style:italic;}
table.cdp-table {border-collapse:collapse; font-size:13px;}
table.cdp-table td, table.cdp-table th {border-bottom:1px solid #e3e7ec; padding:3px 8px; text-align:right;}
table.cdp-table th:first-child, table.cdp-table td:first-child {text-align:left;}
</style>
"""


def resolve_db(db: str | os.PathLike | None) -> str:
    """The workspace file: `db`, else `$CDP_DB` (set by `cdp app`), else `data/cdp.duckdb`;
    a relative path is taken from the project folder (`cdp_lib.project`)."""
    from cdp_lib.project import resolve_path

    return str(resolve_path(db or os.environ.get("CDP_DB") or DEFAULT_PATH))


def fmt(value: Any, decimals: int = 0) -> str:
    """A number as shown in apps: thousands separators, `decimals` places, '–' when missing."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (int, float)):
        return f"{value:,.{decimals}f}"
    return html.escape(str(value))


def table_html(df: pd.DataFrame, decimals: dict[str, int] | None = None, max_rows: int = 50) -> str:
    """A small HTML table (first `max_rows` rows) with the app number format."""
    decimals = decimals or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, row in df.head(max_rows).iterrows():
        cells = "".join(
            f"<td>{fmt(row[c], decimals.get(c, 2 if isinstance(row[c], float) else 0))}</td>" for c in df.columns
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="cdp-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


class App:
    """Base class of the Voila apps.

    Parameters
    ----------
    db
        Workspace file; the app reads its newest published snapshot (see `cdp_lib.snapshots`).
    workspace
        An already open workspace to read instead (tests, notebooks on another backend).
    """

    title = "App"

    def __init__(self, db: str | os.PathLike | None = None, workspace: Workspace | None = None):
        self._fixed_ws = workspace
        self.reader = None if workspace is not None else PublishedReader(resolve_db(db))
        self.status = widgets.HTML(value="")
        self.controls: list[widgets.Widget] = []
        self.last_render_seconds: float | None = None
        self.error: str | None = None
        # control name -> message widget shown next to it (a `FieldError` about it lands there)
        self.field_messages: dict[str, widgets.HTML] = {}

    @property
    def ws(self) -> Workspace:
        """The workspace of the current interaction (the newest published snapshot)."""
        return self._fixed_ws if self._fixed_ws is not None else self.reader.workspace

    def _frame(self, body: list[widgets.Widget]) -> widgets.VBox:
        header = widgets.HTML(CSS + f"<h2 style='margin:4px 0'>{html.escape(self.title)}</h2>")
        return widgets.VBox([header, *body, self.status], layout=widgets.Layout(padding="4px 12px"))

    def refresh(self, *_: Any) -> None:
        """The one re-render path: every control calls this."""
        started = time.perf_counter()
        self.status.value = '<span class="cdp-loading">Loading…</span>'
        for c in self.controls:
            c.disabled = True
        for m in self.field_messages.values():
            m.value = ""
        try:
            self.render(self.ws)
            self.status.value = ""
            self.error = None
        except CdpError as exc:
            self.error = str(exc)
            box = self.field_messages.get(getattr(exc, "field", None))
            message = f'<div class="cdp-error">{html.escape(str(exc))}</div>'
            if box is not None:  # next to the control it is about; nothing stale stays on screen
                box.value, self.status.value = message, ""
                self.clear()
            else:
                self.status.value = message
        except Exception as exc:  # an app must keep serving; the details go to the server log
            log.exception("app render failed")
            self.error = f"{type(exc).__name__}: {exc}"
            self.status.value = (
                '<div class="cdp-error">Something went wrong while computing this view; '
                "try other inputs or ask the workbench's maintainer to check the server log.</div>"
            )
        finally:
            for c in self.controls:
                c.disabled = False
            self.last_render_seconds = time.perf_counter() - started

    def render(self, ws: Workspace) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def clear(self) -> None:
        """Empty the views that an invalid input would leave stale (apps override it)."""

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
