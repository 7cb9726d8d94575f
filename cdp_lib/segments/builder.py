"""The segment builder's logic, without widgets: rows and nested groups as typed, turned into a
definition; plain-word messages per field; a readable description; value suggestions; reach.

A builder holds a tree of `Group`s (match all / any) whose items are `Row`s (one condition each,
as the person typed it) or further groups. `build(name, root)` turns the tree into the segment
definition of `cdp_lib.segments.definition` (nested groups become `all:`/`any:` items), with
these rules:

- a row whose kind is not chosen, or whose value box is still empty, is *unused*: it applies no
  filter (an empty value never means "equals nothing"); it gets a note, not an error;
- a group with no used item is left out, and a group with one used item is that item;
- a value that cannot be right (a negative or fractional count, a window of 0 days, a
  non-number compared with `>`) is an error on that row's field, in plain words, and nothing
  is computed until it is fixed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

import ibis
import ibis.expr.types as ir

from cdp_lib.errors import InputError
from cdp_lib.segments import guard
from cdp_lib.workspace import Workspace

NONE = "—"
DID, PROPERTY, CONSENT = "did", "profile property", "can receive"
KINDS = (NONE, DID, PROPERTY, CONSENT)
ALL_TIME, IN_LAST = "all time", "in the last (days)"
VALUELESS_OPS = ("is_set", "is_not_set")
ORDERED_OPS = (">", ">=", "<", "<=")
COUNT_WORDS = {">=": "at least", ">": "more than", "==": "exactly", "!=": "not exactly", "<=": "at most",
               "<": "fewer than"}
OP_WORDS = {"equals": "is", "not_equals": "is not", "contains": "contains", "not_contains": "does not contain",
            "starts_with": "starts with", "ends_with": "ends with", ">": "is more than", ">=": "is at least",
            "<": "is less than", "<=": "is at most", "==": "is", "!=": "is not", "in": "is one of",
            "not_in": "is none of", "is_set": "is set", "is_not_set": "is not set", "in_last": "is in the last",
            "not_in_last": "is not in the last", "in_next": "is in the next", "not_in_next": "is not in the next"}
MATCH_WORDS = {"all": "ALL", "any": "ANY"}
MAX_GROUP_DEPTH = 3  # the builder's limit (the YAML format allows deeper nesting)


@dataclass
class Row:
    """One condition row as typed; fields a kind does not use are ignored."""

    kind: str = NONE
    metric: str | None = None
    count_op: str = ">="
    count: Any = 1
    window: str = ALL_TIME
    days: Any = 30
    event_property: str | None = None  # NONE or None: no "where" filter
    property: str | None = None
    op: str = "equals"
    value: Any = ""
    channel: str = "email"


@dataclass
class Group:
    match: str = "all"
    items: list = field(default_factory=list)  # Row | Group


@dataclass
class RowCheck:
    """What a row contributes: its condition (None when unused), errors per field, a note."""

    condition: dict | None = None
    errors: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass
class Built:
    """The definition the tree describes (None when it has no used condition or has errors),
    the checks of every row (by `id(row)`), and a message about the whole definition."""

    definition: dict | None
    checks: dict[int, RowCheck]
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.definition is not None


def typed_value(text: Any) -> Any:
    """A value typed in a box: a whole number or a decimal when it reads as one, else the text."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    for kind in (int, float):
        try:
            return kind(s)
        except ValueError:
            pass
    return s


def _whole(value: Any, what: str, low: int, high: int) -> tuple[int | None, str | None]:
    """`value` as a whole number in [low, high], or the plain-word reason it is not."""
    v = typed_value(value)
    if isinstance(v, bool) or v == "" or v is None:
        return None, f"type the {what}"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int):
        return None, f"the {what} must be a whole number, not {value!r}"
    if v < low:
        return None, (f"the {what} cannot be negative; type {low} or more" if v < 0
                      else f"the {what} must be at least {low}")
    if v > high:
        return None, f"the {what} can be at most {high:,}"
    return v, None


def _filter(prop: str, op: str, value: Any, field_name: str, check: RowCheck) -> dict | None:
    if op in VALUELESS_OPS:
        return {"property": prop, "op": op}
    if value is None or str(value).strip() == "":
        check.note = "not applied yet: type a value"
        return None
    v = typed_value(value)
    if op in ORDERED_OPS and isinstance(v, str):
        try:
            dt.date.fromisoformat(v)
        except ValueError:
            check.errors[field_name] = f"{op} compares numbers or dates (YYYY-MM-DD); {value!r} is neither"
            return None
    return {"property": prop, "op": op, "value": v}


def check_row(row: Row) -> RowCheck:
    """The condition a row stands for, or why it is unused or wrong (see the module's rules)."""
    check = RowCheck()
    if row.kind == NONE or not row.kind:
        return check
    if row.kind == CONSENT:
        if row.channel not in ("email", "sms"):
            check.errors["channel"] = "choose email or SMS"
            return check
        check.condition = {"can_receive": row.channel}
        return check
    if row.kind == PROPERTY:
        if not row.property:
            check.note = "not applied yet: choose a property"
            return check
        check.condition = _filter(row.property, row.op, row.value, "value", check)
        return check
    if row.kind != DID:
        check.errors["kind"] = f"unknown kind of condition {row.kind!r}"
        return check
    if not row.metric:
        check.note = "not applied yet: choose an event"
        return check
    if row.count_op not in COUNT_WORDS:
        check.errors["count_op"] = f"unknown comparison {row.count_op!r}"
    count, why = _whole(row.count, "number of times", 0, guard.MAX_COUNT)
    if why:
        check.errors["count"] = why
    cond: dict = {"metric": row.metric, "count": {"op": row.count_op, "value": count}}
    if row.window == IN_LAST:
        days, why = _whole(row.days, "number of days", 1, guard.MAX_WINDOW_DAYS)
        if why:
            check.errors["days"] = why
        cond["when"] = {"in_last": f"{days}d"}
    if row.event_property and row.event_property != NONE:
        where = _filter(row.event_property, row.op, row.value, "value", check)
        if where is not None:
            cond["where"] = [where]
        else:
            check.note = "the 'where' filter is not applied until you type a value" if not check.errors else ""
    if not check.errors:
        check.condition = cond
    return check


def _group(group: Group, checks: dict[int, RowCheck], depth: int) -> list[dict]:
    if depth > MAX_GROUP_DEPTH:
        raise InputError(f"groups nest at most {MAX_GROUP_DEPTH} deep in the builder; "
                         "save the inner part as its own segment and use 'in segment'")
    out = []
    for item in group.items:
        if isinstance(item, Group):
            inner = _group(item, checks, depth + 1)
            if len(inner) == 1:
                out.append(inner[0])
            elif inner:
                out.append({item.match: inner})
        else:
            check = check_row(item)
            checks[id(item)] = check
            if check.condition is not None:
                out.append(check.condition)
    return out


def build(name: str, root: Group, description: str = "") -> Built:
    """The definition of `root` named `name` (blank: "New segment"), checked against the
    definition format (`parse_definition`), or the reasons it cannot be built yet."""
    from cdp_lib.segments.definition import parse_definition

    checks: dict[int, RowCheck] = {}
    conditions = _group(root, checks, 1)
    if any(c.errors for c in checks.values()):
        return Built(None, checks, "fix the condition marked in red first; nothing is counted until then")
    if not conditions:
        return Built(None, checks, "add at least one condition (set a row to 'did', 'profile property' or "
                                   "'can receive' and fill it in)")
    d: dict = {"name": name.strip() or "New segment"}
    if description.strip():
        d["description"] = description.strip()
    d["match"] = root.match
    d["conditions"] = conditions
    parse_definition(d)  # the builder never produces what the format refuses
    return Built(d, checks)


# -- readable description ------------------------------------------------------------------------
def _value_text(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(_value_text(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return f"{v:,}"
    return f"'{v}'" if isinstance(v, str) else str(v)


def _window_text(when: Mapping | None) -> str:
    if not when or "all_time" in when:
        return ""
    kind, value = next(iter(when.items()))
    if kind == "in_last":
        return f" in the last {_span_text(value)}"
    if kind == "between_ago":
        return f" between {_span_text(value[0])} and {_span_text(value[1])} ago"
    if kind in ("before", "after"):
        return f" {kind} {value}"
    if kind == "between":
        return f" between {value[0]} and {value[1]} (both days included)"
    if kind == "holiday":
        return f" in the last {value} season"
    return f" ({kind}: {value})"


def _span_text(span: Any) -> str:
    s = str(span).strip()
    n, unit = s[:-1], s[-1:]
    words = {"h": ("hour", "hours"), "d": ("day", "days"), "w": ("week", "weeks"),
             "m": ("month (30 days)", "months (30 days each)"), "y": ("year (365 days)", "years (365 days each)")}
    if unit not in words or not n:
        return s
    return f"{n} {words[unit][0] if n == '1' else words[unit][1]}"


def _filter_text(f: Mapping) -> str:
    words = OP_WORDS.get(f["op"], f["op"])
    if f["op"] in VALUELESS_OPS:
        return f"{f['property']} {words}"
    value = f.get("value")
    if f["op"] in ("in_last", "not_in_last", "in_next", "not_in_next"):
        return f"{f['property']} {words} {_span_text(value)}"
    return f"{f['property']} {words} {_value_text(value)}"


def condition_text(c: Mapping) -> str:
    """One leaf condition in words, e.g. "did Placed Order at least 3 times in the last 90 days"."""
    if "metric" in c:
        measure = "total" if "total" in c else "count"
        comp = c.get(measure, {"op": ">=", "value": 1})
        if measure == "count":
            n = comp["value"]
            text = f"did {c['metric']} {COUNT_WORDS[comp['op']]} {n:,} time{'s' if n != 1 else ''}"
        else:
            text = f"did {c['metric']} with a total value {COUNT_WORDS[comp['op']]} {_value_text(comp['value'])}"
        text += _window_text(c.get("when"))
        if c.get("where"):
            text += " where " + " and ".join(_filter_text(w) for w in c["where"])
        return text
    if "property" in c:
        return _filter_text(c)
    if "can_receive" in c:
        return f"can receive {'email' if c['can_receive'] == 'email' else 'SMS'} (address and consent)"
    if "in_segment" in c:
        return f"is in segment '{c['in_segment']}'"
    if "not_in_segment" in c:
        return f"is not in segment '{c['not_in_segment']}'"
    if "within" in c:
        w = c["within"]
        unit = "miles" if "miles" in w else "km"
        of = w["of"]
        where = f"postal code {of['zip']}" if "zip" in of else f"{of['lat']}, {of['lon']}"
        return f"lives within {w[unit]:,} {unit} of {where}"
    return str(dict(c))


def describe(definition: Mapping) -> list[str]:
    """The definition as indented lines of plain words (nested groups indented)."""
    lines = [f"{definition.get('name', 'Segment')}: people who match "
             f"{MATCH_WORDS[definition.get('match', 'all')]} of"]

    def walk(conditions, depth):
        for c in conditions:
            key = "any" if "any" in c else "all" if "all" in c else None
            if key:
                lines.append("  " * depth + f"• {MATCH_WORDS[key]} of")
                walk(c[key], depth + 1)
            else:
                lines.append("  " * depth + "• " + condition_text(c))

    walk(definition["conditions"], 1)
    return lines


# -- data the builder shows ----------------------------------------------------------------------
def value_suggestions(ws: Workspace, column: str, metric: str | None = None, limit: int = 12) -> list[str]:
    """The most common values of a profile column, or of an event column among `metric` events
    (catalog columns looked up by product id), as text, most frequent first (ties by value)."""
    if metric is None:
        t = ws.profiles
    else:
        ev = ws.events
        t = ev.filter(ev.metric == metric)
        if column not in t.columns and ws.has_table("catalog") and column in ws.catalog.columns:
            cat = ws.catalog.select(_pid=ws.catalog.product_id, **{column: ws.catalog[column]})
            t = t.select("product_id").left_join(cat.distinct(on="_pid", keep="first"), t.product_id == cat._pid)
    if column not in t.columns:
        return []
    col = t[column]
    if col.type().is_boolean():
        return ["true", "false"]
    if not (col.type().is_string() or col.type().is_integer()):
        return []
    f = t.filter(t[column].notnull())
    top = f.group_by(v=f[column]).agg(n=f.count()).order_by([ibis.desc("n"), "v"]).limit(limit)
    return [str(v) for v in top.execute()["v"].tolist() if str(v).strip()]


def reach_counts(ws: Workspace, members: ir.Table) -> dict[str, int]:
    """Members, and how many of them can be reached by email and by SMS (the `can_receive`
    rule: an address that is not blank and a consent that is true)."""
    from cdp_lib.segments.compile import consent_expr

    p = ws.profiles
    people = p.semi_join(members, "profile_id")
    row = people.aggregate(
        members=people.count(),
        email=consent_expr(people, "email").cast("int64").sum(),
        sms=consent_expr(people, "sms").cast("int64").sum(),
    ).execute().iloc[0]
    return {k: int(row[k]) if row[k] == row[k] and row[k] is not None else 0 for k in ("members", "email", "sms")}
