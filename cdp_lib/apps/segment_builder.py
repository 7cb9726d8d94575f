"""Segment builder: compose conditions with widgets, watch the member count, save the YAML."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from cdp_lib.apps.base import App, table_html
from cdp_lib.errors import InputError
from cdp_lib.dates import as_of_day, parse_date
from cdp_lib.segments import members_table, save_definition
from cdp_lib.segments.library import default_folder
from cdp_lib.workspace import Workspace

NONE = "—"
KINDS = [NONE, "did", "profile property"]
COUNT_OPS = [">=", "==", "<=", ">", "<", "!="]
WINDOWS = ["all time", "in the last (days)"]
PROPERTY_OPS = ["equals", "not_equals", "contains", "starts_with", ">=", "<=", ">", "<", "is_set", "is_not_set"]
EVENT_PROPERTIES = [NONE, "source", "source_name", "channel", "product_id", "value", "campaign_id", "flow_id"]
SLOTS = 4
SAMPLE_SIZE = 10
SAMPLE_FIELDS = ("profile_id", "email", "first_name", "city", "country")


def _typed(text: str) -> Any:
    """A filter value typed in a box: a number when it reads as one, else the text."""
    s = text.strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


class ConditionRow:
    """One condition: either 'did METRIC (count) (window) (where property op value)' or a profile property."""

    def __init__(self, metrics: list[str], profile_properties: list[str], index: int):
        w = lambda px: widgets.Layout(width=px)  # noqa: E731
        self.kind = widgets.Dropdown(options=KINDS, value=KINDS[1] if index == 0 else NONE,
                                     description=f"#{index + 1}", layout=w("190px"))
        self.metric = widgets.Dropdown(options=metrics, layout=w("170px"),
                                       value="Placed Order" if "Placed Order" in metrics else None)
        self.count_op = widgets.Dropdown(options=COUNT_OPS, value=">=", layout=w("60px"))
        self.count = widgets.BoundedIntText(value=1, min=0, max=10_000, layout=w("70px"))
        self.window = widgets.Dropdown(options=WINDOWS, value=WINDOWS[0], layout=w("150px"))
        self.days = widgets.BoundedIntText(value=30, min=1, max=3650, layout=w("70px"))
        self.event_property = widgets.Dropdown(options=EVENT_PROPERTIES, value=NONE, layout=w("120px"))
        self.profile_property = widgets.Dropdown(options=profile_properties, layout=w("150px"))
        self.op = widgets.Dropdown(options=PROPERTY_OPS, value="equals", layout=w("110px"))
        self.value = widgets.Text(placeholder="value", layout=w("140px"), continuous_update=False)
        self.widgets = [self.kind, self.metric, self.count_op, self.count, self.window, self.days,
                        self.event_property, self.profile_property, self.op, self.value]
        self.box = widgets.HBox()
        self.kind.observe(lambda _: self._layout(), "value")
        self.window.observe(lambda _: self._layout(), "value")
        self.event_property.observe(lambda _: self._layout(), "value")
        self._layout()

    def _layout(self) -> None:
        kind = self.kind.value
        if kind == "did":
            parts = [self.kind, self.metric, self.count_op, self.count, widgets.Label("times,"), self.window]
            if self.window.value != WINDOWS[0]:
                parts.append(self.days)
            parts += [widgets.Label("where"), self.event_property]
            if self.event_property.value != NONE:
                parts += [self.op, self.value]
        elif kind == "profile property":
            parts = [self.kind, self.profile_property, self.op, self.value]
        else:
            parts = [self.kind]
        self.box.children = parts

    def condition(self) -> dict | None:
        """The YAML condition this row stands for (None when the row is unused)."""
        if self.kind.value == "did":
            cond: dict = {"metric": self.metric.value, "count": {"op": self.count_op.value, "value": int(self.count.value)}}
            if self.window.value != WINDOWS[0]:
                cond["when"] = {"in_last": f"{int(self.days.value)}d"}
            if self.event_property.value != NONE:
                cond["where"] = [self._filter(self.event_property.value)]
            return cond
        if self.kind.value == "profile property":
            return self._filter(self.profile_property.value)
        return None

    def _filter(self, prop: str) -> dict:
        spec = {"property": prop, "op": self.op.value}
        if self.op.value not in {"is_set", "is_not_set"}:
            spec["value"] = _typed(self.value.value)
        return spec


class SegmentBuilderApp(App):
    """Conditions combined with AND/OR; live member count and sample; save under parameters/segments/."""

    title = "Segment builder"

    def __init__(self, db=None, workspace=None, folder: str | None = None, as_of=None):
        """`folder` defaults to `parameters/segments/` of the project folder (`$CDP_PROJECT_DIR`,
        set by `cdp app`, else the project holding the current folder; see `cdp_lib.project`).
        Members are counted as of the end of `as_of` (default today, UTC), the rule of `cdp
        segment run` and every other analysis."""
        super().__init__(db, workspace)
        self.as_of_date = parse_date(as_of, "as_of")  # None: today, read at each render
        self.as_of = as_of_day(self.as_of_date)
        self.folder = folder or default_folder()
        ws = self.ws
        metrics = sorted(ws.events.select("metric").distinct().execute()["metric"].dropna().tolist())
        props = [c for c in ws.profiles.columns if c != "profile_id"]
        self.name = widgets.Text(value="New segment", description="Name")
        self.match = widgets.ToggleButtons(options=[("AND (all)", "all"), ("OR (any)", "any")], value="all",
                                           description="Match")
        self.rows = [ConditionRow(metrics, props, i) for i in range(SLOTS)]
        self.count_html = widgets.HTML()
        self.sample_html = widgets.HTML()
        self.yaml_html = widgets.HTML()
        self.save = widgets.Button(description="Save segment", button_style="success")
        self.overwrite = widgets.Checkbox(value=False, description="replace an existing file")
        self.saved_html = widgets.HTML()
        self.members: int | None = None
        self.sample = None
        self.saved_path = None
        self.controls = [self.match, self.save, *[w for r in self.rows for w in r.widgets]]
        for w in [self.match, *[w for r in self.rows for w in r.widgets]]:
            w.observe(self.refresh, "value")
        self.save.on_click(self._on_save)
        self.container = self._frame([
            self.name, self.match, *[r.box for r in self.rows],
            self.count_html, self.sample_html,
            widgets.HBox([self.save, self.overwrite]), self.saved_html, self.yaml_html,
        ])
        self.refresh()

    def definition(self) -> dict:
        """The segment definition the widgets describe (the YAML contract of `cdp_lib.segments`)."""
        conditions = [c for c in (r.condition() for r in self.rows) if c is not None]
        if not conditions:
            raise InputError("add at least one condition (set a row to 'did' or 'profile property')")
        return {"name": self.name.value.strip() or "New segment", "match": self.match.value, "conditions": conditions}

    def render(self, ws: Workspace) -> None:
        import yaml

        self.saved_html.value = ""
        d = self.definition()
        self.yaml_html.value = f"<pre style='font-size:12px'>{html.escape(yaml.safe_dump(d, sort_keys=False))}</pre>"
        self.as_of = as_of_day(self.as_of_date)
        members = members_table(ws, d, self.as_of)
        self.members = int(members.count().execute())
        p = ws.profiles
        fields = [f for f in SAMPLE_FIELDS if f in p.columns]
        sample = p.semi_join(members, "profile_id").select(*fields).order_by("profile_id").limit(SAMPLE_SIZE)
        self.sample = sample.execute()
        self.count_html.value = f"<div class='cdp-cards'><div class='cdp-card'><div class='cdp-label'>Members as of {self.as_of:%Y-%m-%d}</div>" \
                                f"<div class='cdp-value cdp-members'>{self.members:,}</div></div></div>"
        self.sample_html.value = "<h4>Sample of members</h4>" + table_html(self.sample)

    def _on_save(self, *_) -> None:
        try:
            self.saved_path = save_definition(self.definition(), self.folder, overwrite=self.overwrite.value)
            self.saved_html.value = f"<b class='cdp-saved'>Saved to {html.escape(str(self.saved_path))}</b>"
            self.status.value = ""
        except InputError as exc:
            self.status.value = f'<div class="cdp-error">{html.escape(str(exc))}</div>'
