"""A list of people inside an app: count, table, CSV download and "save as segment".

Used by the RFM explorer (the customers of a transition) and the funnel explorer (the people who
dropped at a step). The app gives the people and a function that turns a segment name into a
definition; saving writes it to the project's segment library (`parameters/segments/`, see
`cdp_lib.project`) after checking that the name is free there.
"""

from __future__ import annotations

import base64
import html
import logging
from typing import Callable

import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import table_html
from cdp_lib.errors import CdpError, NotComputedError

log = logging.getLogger(__name__)


def csv_link(df: pd.DataFrame, filename: str, noun: str = "customers") -> str:
    """An HTML link that downloads `df` as a CSV file (no server round trip)."""
    data = base64.b64encode(df.to_csv(index=False).encode()).decode()
    return (f'<a class="cdp-download" download="{html.escape(filename)}" '
            f'href="data:text/csv;base64,{data}">Download {len(df):,} {noun} as CSV</a>')


def save_segment(definition: dict, folder=None) -> str:
    """Validate `definition`, refuse a name the library already uses, write it; return the path."""
    from cdp_lib.errors import InputError
    from cdp_lib.segments import load_definition, load_library, save_definition
    from cdp_lib.segments.library import default_folder

    folder = folder or default_folder()
    d = load_definition(definition)
    taken = load_library(folder, missing_ok=True)
    if d.name in taken:
        raise InputError(f"a segment named {d.name!r} already exists ({taken[d.name].source.name}); "
                         "type another name")
    return str(save_definition(d, folder))


class PeoplePanel:
    """Widgets showing one list of people and saving it as a segment.

    Parameters
    ----------
    noun
        What the people are called in the count line ("customers", "people").
    modes
        Labels of the ways to save (e.g. fixed list / rule); one mode shows no chooser.
    """

    def __init__(self, noun: str = "people", modes: tuple[str, ...] = ("fixed list",)):
        self.noun = noun
        self.heading = widgets.HTML()
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        self.name = widgets.Text(description="Segment", placeholder="segment name",
                                 layout=widgets.Layout(width="360px"))
        self.mode = widgets.ToggleButtons(options=list(modes), value=modes[0], description="Save as",
                                          style={"button_width": "auto"})
        self.save_button = widgets.Button(description="Save as segment", button_style="primary")
        self.message = widgets.HTML()
        self.people: pd.DataFrame | None = None
        self.saved_path: str | None = None
        self.make_definition: Callable[[str, str], dict] | None = None
        self.count_members: Callable[[dict], int] | None = None
        self.save_button.on_click(self._save)
        chooser = [self.mode] if len(modes) > 1 else []
        self.container = widgets.VBox([
            self.heading, self.summary, self.table,
            widgets.HBox([self.name, *chooser, self.save_button]), self.message,
        ])

    def show(self, people: pd.DataFrame, heading: str, filename: str, default_name: str,
             decimals: dict[str, int] | None = None) -> None:
        self.people = people
        self.heading.value = f"<h4>{html.escape(heading)}</h4>"
        self.summary.value = (f"<div class='cdp-label'><b class='cdp-people'>{len(people):,}</b> {self.noun} · "
                              f"{csv_link(people, filename, self.noun)}</div>")
        self.table.value = table_html(people, decimals or {}, max_rows=25)
        self.name.value = default_name
        self.message.value = ""

    def clear(self) -> None:
        self.people = None
        for w in (self.heading, self.summary, self.table, self.message):
            w.value = ""

    def _save(self, *_) -> None:
        self.saved_path = None
        if self.people is None or self.make_definition is None:
            self.message.value = '<div class="cdp-error">Pick a group of people first.</div>'
            return
        try:
            definition = self.make_definition(self.name.value, self.mode.value)
            path = save_segment(definition)
        except CdpError as exc:
            self.message.value = f'<div class="cdp-error">{html.escape(str(exc))}</div>'
            return
        except Exception as exc:  # the app keeps serving; details go to the server log
            log.exception("saving a segment failed")
            self.message.value = f'<div class="cdp-error">Could not save the segment ({type(exc).__name__}).</div>'
            return
        self.saved_path = path
        note = ""
        if self.count_members is not None:
            try:
                note = f" It has {self.count_members(definition):,} members now."
            except NotComputedError as exc:
                note = f" It has no members yet: {exc}."
            except CdpError as exc:
                note = f" Its members could not be counted here: {exc}."
        self.message.value = (f'<div class="cdp-saved">Saved segment <b>{html.escape(definition["name"])}</b> '
                              f"to {html.escape(path)}.{html.escape(note)} "
                              "<code>cdp segment refresh</code> stores its membership.</div>")
