"""Segment builder: nested AND/OR groups of conditions, live counts, CSV export, save the YAML.

The widgets only collect what is typed; `cdp_lib.segments.builder` turns it into a definition,
the messages beside each control, the readable description, value suggestions and reach counts.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import ipywidgets as widgets

from cdp_lib.apps.base import App, table_html
from cdp_lib.dates import as_of_day, parse_date
from cdp_lib.errors import InputError
from cdp_lib.segments import load_definition, members_table, save_definition
from cdp_lib.segments import builder as b
from cdp_lib.segments.library import default_folder
from cdp_lib.workspace import Workspace

NONE = b.NONE
KINDS = list(b.KINDS)
COUNT_OPS = [">=", "==", "<=", ">", "<", "!="]
WINDOWS = [b.ALL_TIME, b.IN_LAST]
PROPERTY_OPS = ["equals", "not_equals", "contains", "starts_with", ">=", "<=", ">", "<", "is_set", "is_not_set"]
EVENT_PROPERTIES = [NONE, "source", "source_name", "channel", "product_id", "value", "campaign_id", "flow_id"]
SLOTS = 2  # rows shown at start; "+ condition" adds more
SAMPLE_SIZE = 10
SAMPLE_FIELDS = ("profile_id", "email", "first_name", "city", "country")
EXPORT_FIELDS = ("profile_id", "email", "phone", "first_name", "last_name", "city", "country")


def _w(px: str) -> widgets.Layout:
    return widgets.Layout(width=px)


class ConditionRow:
    """One condition: 'did METRIC (count) (window) (where property op value)', a profile
    property, or 'can receive email/SMS'; its message shows at the end of the row."""

    def __init__(self, app: "SegmentBuilderApp", index: int, kind: str = NONE):
        self.app = app
        self.kind = widgets.Dropdown(options=KINDS, value=kind, description=f"#{index + 1}", layout=_w("235px"))
        self.metric = widgets.Dropdown(options=app.metrics, layout=_w("170px"),
                                       value="Placed Order" if "Placed Order" in app.metrics else None)
        self.count_op = widgets.Dropdown(options=COUNT_OPS, value=">=", layout=_w("60px"))
        self.count = widgets.IntText(value=1, layout=_w("70px"))  # not bounded: a negative is refused in words
        self.window = widgets.Dropdown(options=WINDOWS, value=WINDOWS[0], layout=_w("150px"))
        self.days = widgets.IntText(value=30, layout=_w("70px"))
        self.event_property = widgets.Dropdown(options=app.event_properties, value=NONE, layout=_w("120px"))
        self.profile_property = widgets.Dropdown(options=app.profile_properties, layout=_w("150px"))
        self.op = widgets.Dropdown(options=PROPERTY_OPS, value="equals", layout=_w("110px"))
        self.value = widgets.Combobox(placeholder="value", layout=_w("160px"), continuous_update=False,
                                      ensure_option=False)
        self.channel = widgets.Dropdown(options=[("email", "email"), ("SMS", "sms")], value="email", layout=_w("90px"))
        self.remove = widgets.Button(description="✕", tooltip="remove this condition", layout=_w("36px"))
        self.message = widgets.HTML()
        self.widgets = [self.kind, self.metric, self.count_op, self.count, self.window, self.days,
                        self.event_property, self.profile_property, self.op, self.value, self.channel]
        self.box = widgets.HBox()
        # classes name each control for styling and the browser tests
        self.box.add_class("cdp-row").add_class(f"cdp-row-{index + 1}")
        for name in ("kind", "metric", "count_op", "count", "window", "days", "event_property", "profile_property",
                     "op", "value", "channel", "remove", "message"):
            getattr(self, name).add_class(f"cdp-{name.replace('_', '-')}")
        for w in (self.kind, self.window, self.event_property, self.op):
            w.observe(lambda _: self._layout(), "value")
        for w in (self.kind, self.metric, self.event_property, self.profile_property):
            w.observe(lambda _: self._suggest(), "value")
        self._layout()
        self._suggest()

    def spec(self) -> b.Row:
        """What the row holds, as the builder's plain data."""
        return b.Row(kind=self.kind.value, metric=self.metric.value, count_op=self.count_op.value,
                     count=self.count.value, window=self.window.value, days=self.days.value,
                     event_property=self.event_property.value, property=self.profile_property.value,
                     op=self.op.value, value=self.value.value, channel=self.channel.value)

    def condition(self) -> dict | None:
        """The condition this row stands for (None when unused); kept for callers of the old builder."""
        return b.check_row(self.spec()).condition

    def _layout(self) -> None:
        kind = self.kind.value
        needs_value = self.op.value not in b.VALUELESS_OPS
        if kind == b.DID:
            parts = [self.kind, self.metric, self.count_op, self.count, widgets.Label("times,"), self.window]
            if self.window.value != WINDOWS[0]:
                parts.append(self.days)
            parts += [widgets.Label("where"), self.event_property]
            if self.event_property.value != NONE:
                parts += [self.op, *([self.value] if needs_value else [])]
        elif kind == b.PROPERTY:
            parts = [self.kind, self.profile_property, self.op, *([self.value] if needs_value else [])]
        elif kind == b.CONSENT:
            parts = [self.kind, self.channel]
        else:
            parts = [self.kind]
        self.box.children = [*parts, self.remove, self.message]

    def _suggest(self) -> None:
        """Offer the most common values of the chosen property as the value box's options."""
        try:
            if self.kind.value == b.PROPERTY and self.profile_property.value:
                options = b.value_suggestions(self.app.ws, self.profile_property.value)
            elif self.kind.value == b.DID and self.event_property.value not in (None, NONE):
                options = b.value_suggestions(self.app.ws, self.event_property.value, metric=self.metric.value)
            else:
                options = []
        except InputError:
            options = []
        self.value.options = tuple(options)

    def show(self, check: b.RowCheck | None) -> None:
        if check is None or (not check.errors and not check.note):
            self.message.value = ""
        elif check.errors:
            text = "; ".join(check.errors.values())
            self.message.value = f"<span class='cdp-error cdp-row-error'>{html.escape(text[:1].upper() + text[1:])}</span>"
        else:
            self.message.value = f"<span class='cdp-label cdp-row-note'>{html.escape(check.note[:1].upper() + check.note[1:])}</span>"


class GroupBox:
    """A group of rows and inner groups combined with AND (all) or OR (any)."""

    def __init__(self, app: "SegmentBuilderApp", depth: int = 1, rows: int = 1):
        self.app, self.depth = app, depth
        self.match = widgets.ToggleButtons(options=[("AND (all)", "all"), ("OR (any)", "any")], value="all",
                                           description="Match" if depth == 1 else "Group")
        self.items: list[Any] = []
        self.add_row = widgets.Button(description="+ condition", layout=_w("110px"))
        self.add_group = widgets.Button(description="+ group", layout=_w("90px"),
                                        tooltip="a nested group with its own AND/OR")
        self.remove = widgets.Button(description="✕ group", layout=_w("80px"))
        self.add_row.on_click(lambda _: self.add(ConditionRow(app, app.next_index())))
        self.add_group.on_click(lambda _: self.add(GroupBox(app, depth + 1)))
        self.match.observe(app.refresh, "value")
        app.controls.append(self.match)
        self.match.add_class("cdp-match")
        self.add_row.add_class("cdp-add-row")
        self.add_group.add_class("cdp-add-group")
        self.remove.add_class("cdp-remove-group")
        border = "1px solid #c8d1dc" if depth > 1 else "none"
        self.box = widgets.VBox(layout=widgets.Layout(border_left=border, padding="0 0 0 10px" if depth > 1 else "0",
                                                      margin="2px 0 2px 12px" if depth > 1 else "0"))
        self.box.add_class("cdp-group").add_class(f"cdp-group-{depth}")
        for i in range(rows):
            self.add(ConditionRow(app, app.next_index(), kind=b.DID if (depth == 1 and i == 0) else NONE), refresh=False)
        self._layout()

    def add(self, item, refresh: bool = True) -> None:
        item.remove.on_click(lambda _: self.drop(item))
        self.items.append(item)
        if isinstance(item, ConditionRow):
            self.app.register(item)
        self._layout()
        if refresh:
            self.app.refresh()

    def drop(self, item) -> None:
        self.items.remove(item)
        self._layout()
        self.app.refresh()

    def rows(self) -> list[ConditionRow]:
        out = []
        for item in self.items:
            out += item.rows() if isinstance(item, GroupBox) else [item]
        return out

    def _layout(self) -> None:
        buttons = [self.add_row] + ([self.add_group] if self.depth < b.MAX_GROUP_DEPTH else [])
        buttons += [self.remove] if self.depth > 1 else []
        self.box.children = [self.match, *[item.box for item in self.items], widgets.HBox(buttons)]


class SegmentBuilderApp(App):
    """Nested AND/OR groups; live member and reach counts and a sample; CSV export; save under
    parameters/segments/."""

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
        self.metrics = sorted(ws.events.select("metric").distinct().execute()["metric"].dropna().tolist())
        self.profile_properties = [c for c in ws.profiles.columns if c != "profile_id"]
        catalog = [c for c in ("name", "category", "brand") if ws.has_table("catalog") and c in ws.catalog.columns]
        self.event_properties = EVENT_PROPERTIES + catalog
        self._ready = False
        self._rows_made = 0
        self.name = widgets.Text(value="New segment", description="Name")
        self.root = GroupBox(self, rows=SLOTS)
        self.match = self.root.match
        self.count_html = widgets.HTML()
        self.sample_html = widgets.HTML()
        self.yaml_html = widgets.HTML()
        self.save = widgets.Button(description="Save segment", button_style="success")
        self.overwrite = widgets.Checkbox(value=False, description="replace an existing file")
        self.saved_html = widgets.HTML()
        self.export_fields = widgets.SelectMultiple(
            options=self._export_options(ws), value=[f for f in EXPORT_FIELDS if f in ws.profiles.columns],
            description="Fields", rows=5, layout=_w("300px"))
        self.export = widgets.Button(description="Export CSV")
        self.name.add_class("cdp-name")
        self.save.add_class("cdp-save")
        self.export.add_class("cdp-export")
        self.export_html = widgets.HTML()
        self.members: int | None = None
        self.reach: dict[str, int] | None = None
        self.sample = None
        self.saved_path = None
        self.built: b.Built | None = None
        self.controls += [self.save, self.export]
        self.save.on_click(self._on_save)
        self.export.on_click(self._on_export)
        self.container = self._frame([
            self.name, self.root.box, self.count_html, self.yaml_html, self.sample_html,
            widgets.HBox([self.export_fields, self.export, self.export_html]),
            widgets.HBox([self.save, self.overwrite, self.saved_html]),
        ])
        self._ready = True
        self.refresh()

    @property
    def rows(self) -> list[ConditionRow]:
        """Every condition row, nested groups included, in the order shown."""
        return self.root.rows()

    def next_index(self) -> int:
        """Number of the next new row (rows keep their number when others are removed)."""
        self._rows_made += 1
        return self._rows_made - 1

    def register(self, row: ConditionRow) -> None:
        """Wire a new row's controls to the one re-render path."""
        for w in row.widgets:
            w.observe(self.refresh, "value")
        # Typing boxes stay enabled during a re-render: they send their value only on Enter or
        # leaving the box, and a state change sent to a box (disabled, then enabled) would wipe
        # text typed but not yet sent. The kernel handles changes one at a time anyway.
        self.controls += [w for w in row.widgets if not isinstance(w, (widgets.Text, widgets.IntText))]

    def _export_options(self, ws: Workspace) -> list[str]:
        from cdp_lib.segments import COMPUTED

        computed = [c for c, (table, _) in COMPUTED.items() if ws.has_table(table) and c in ws.table(table).columns]
        return [*ws.profiles.columns, *computed]

    def refresh(self, *args: Any) -> None:
        if getattr(self, "_ready", False):
            super().refresh(*args)

    def definition(self) -> dict:
        """The segment definition the widgets describe (the YAML contract of `cdp_lib.segments`)."""
        built = self._check()
        if not built.ok:
            raise InputError(built.message)
        return built.definition

    def _check(self) -> b.Built:
        specs = {id(row): row.spec() for row in self.rows}
        tree = self._tree(self.root, specs)
        built = b.build(self.name.value, tree)
        for row in self.rows:
            row.show(built.checks.get(id(specs[id(row)])))
        self.built = built
        return built

    def _tree(self, group: GroupBox, specs: dict) -> b.Group:
        items = [self._tree(i, specs) if isinstance(i, GroupBox) else specs[id(i)] for i in group.items]
        return b.Group(group.match.value, items)

    def _clear(self) -> None:
        """No stale numbers next to inputs that are not usable."""
        self.members, self.reach, self.sample = None, None, None
        self.count_html.value = ""
        self.sample_html.value = ""
        self.export_html.value = ""

    def render(self, ws: Workspace) -> None:
        import yaml

        self.saved_html.value = ""
        self.export_html.value = ""
        built = self._check()
        if not built.ok:
            self._clear()
            self.yaml_html.value = ""
            raise InputError(built.message)
        d = built.definition
        lines = "<br>".join(html.escape(line).replace("  ", "&nbsp;&nbsp;&nbsp;") for line in b.describe(d))
        self.yaml_html.value = (f"<div class='cdp-description'>{lines}</div><details><summary>YAML</summary>"
                                f"<pre style='font-size:12px'>{html.escape(yaml.safe_dump(d, sort_keys=False))}</pre></details>")
        self.as_of = as_of_day(self.as_of_date)
        members = members_table(ws, d, self.as_of)
        self.reach = b.reach_counts(ws, members)
        self.members = self.reach["members"]
        p = ws.profiles
        fields = [f for f in SAMPLE_FIELDS if f in p.columns]
        self.sample = p.semi_join(members, "profile_id").select(*fields).order_by("profile_id").limit(SAMPLE_SIZE).execute()
        card = lambda label, value, css: (f"<div class='cdp-card'><div class='cdp-label'>{label}</div>"  # noqa: E731
                                          f"<div class='cdp-value {css}'>{value:,}</div></div>")
        self.count_html.value = ("<div class='cdp-cards'>"
                                 + card(f"Members as of {self.as_of:%Y-%m-%d}", self.members, "cdp-members")
                                 + card("Reachable by email", self.reach["email"], "cdp-reach-email")
                                 + card("Reachable by SMS", self.reach["sms"], "cdp-reach-sms") + "</div>")
        self.sample_html.value = ("<h4>Sample of members</h4>" + table_html(self.sample) if len(self.sample)
                                  else "<h4>Sample of members</h4><i>no one matches these conditions</i>")

    def export_csv(self) -> str:
        """The members of the current definition with the chosen fields, as CSV text."""
        from cdp_lib.segments import members_with_fields

        fields = list(self.export_fields.value)
        if not fields:
            raise InputError("choose at least one field to export")
        members = members_table(self.ws, self.definition(), self.as_of)
        return members_with_fields(self.ws, members, fields).execute().to_csv(index=False)

    def _on_export(self, *_) -> None:
        try:
            text = self.export_csv()
            data = base64.b64encode(text.encode()).decode()
            name = f"{(self.name.value.strip() or 'segment').replace(' ', '_').lower()}.csv"
            rows = text.count("\n") - 1
            self.export_html.value = (f'<a class="cdp-download" download="{html.escape(name)}" '
                                      f'href="data:text/csv;base64,{data}">Download {html.escape(name)} '
                                      f'({rows:,} people)</a>')
        except InputError as exc:
            self.export_html.value = f'<span class="cdp-error">{html.escape(str(exc))}</span>'

    def _on_save(self, *_) -> None:
        try:
            self.saved_path = save_definition(self.definition(), self.folder, overwrite=self.overwrite.value)
            saved = load_definition(self.saved_path)  # what the file now says, read back
            lines = "<br>".join(html.escape(line).replace("  ", "&nbsp;&nbsp;&nbsp;") for line in b.describe(saved.raw))
            self.saved_html.value = (f"<div class='cdp-saved'><b>Saved to {html.escape(str(self.saved_path))}</b>"
                                     f"<div class='cdp-saved-description'>{lines}</div></div>")
            self.status.value = ""
        except InputError as exc:
            self.saved_html.value = f'<span class="cdp-error">{html.escape(str(exc))}</span>'
