"""Property filters shared by segments, custom metrics, funnels and reports.

A filter is plain data, `{property, op, value, case}`, compiled to an Ibis boolean expression
with the value bound as a literal (never string-built SQL). Negative operators (`not_equals`,
`not_contains`, `not_in`) also hold when the property is not set, as marketers expect from
"is not X".
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

import ibis
import ibis.expr.types as ir

from cdp_lib.durations import DAY_UNITS, parse_duration  # noqa: F401  (parse_duration re-exported)
from cdp_lib.errors import InputError
from cdp_lib.keys import check_keys, suggest

STRING_OPS = {"equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with"}
LIST_OPS = {"in", "not_in"}
SET_OPS = {"is_set", "is_not_set"}
COMPARE_OPS = {">", ">=", "<", "<=", "==", "!="}
RELATIVE_DATE_OPS = {"in_last", "not_in_last"}
# Dates ahead of the as-of moment, e.g. expected_next_order_date within the next 14 days.
FUTURE_DATE_OPS = {"in_next", "not_in_next"}
OPERATORS = STRING_OPS | LIST_OPS | SET_OPS | COMPARE_OPS | RELATIVE_DATE_OPS | FUTURE_DATE_OPS
FILTER_KEYS = {"property", "op", "value", "case"}

# Units the date operators (`in_last`, `in_next`) accept: hours and whole-day units. They wrote
# months as `m` before durations.py gave `m` to minutes; that spelling still works and warns.
DATE_OP_UNITS = ("h", *DAY_UNITS)


def date_op_span(value: Any, where: str) -> dt.timedelta:
    """The length of an `in_last`/`in_next` value (`'30d'`, `'12h'`, `'3mo'`)."""
    return parse_duration(value, where, DATE_OP_UNITS, legacy_months=True)


def validate_filter(spec: Any, where: str, known: set[str] | None = None) -> dict:
    """Check one filter's shape; return it normalised. `where` names its place for messages."""
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: expected a mapping with 'property', 'op' and 'value', got {spec!r}")
    check_keys(where, spec, FILTER_KEYS)
    prop, op = spec.get("property"), spec.get("op")
    if not isinstance(prop, str) or not prop:
        raise InputError(f"{where}.property: expected a property name, got {prop!r}")
    if known is not None and prop not in known:
        raise InputError(f"{where}.property: unknown property {prop!r}{suggest(prop, known)}")
    if op not in OPERATORS:
        raise InputError(f"{where}.op: unknown operator {op!r}; expected one of {sorted(OPERATORS)}")
    value = spec.get("value")
    if op in SET_OPS:
        pass
    elif "value" not in spec:
        raise InputError(f"{where}.value: operator {op!r} needs a value")
    elif op in LIST_OPS and not isinstance(value, (list, tuple)):
        raise InputError(f"{where}.value: operator {op!r} needs a list, got {value!r}")
    elif op in STRING_OPS - {"equals", "not_equals"} and not isinstance(value, str):
        raise InputError(f"{where}.value: operator {op!r} needs text, got {value!r}")
    elif op in RELATIVE_DATE_OPS | FUTURE_DATE_OPS:
        date_op_span(value, f"{where}.value")
    case = spec.get("case", "sensitive")
    if case not in {"sensitive", "insensitive"}:
        raise InputError(f"{where}.case: expected 'sensitive' or 'insensitive', got {case!r}")
    return {"property": prop, "op": op, "value": value, "case": case}


def _literal_like(column: ir.Column, value: Any) -> Any:
    """Cast a YAML value to the column's type where that is unambiguous (dates, numbers)."""
    if column.type().is_timestamp() and isinstance(value, (str, dt.date)):
        ts = ibis.timestamp(str(value)) if isinstance(value, str) else ibis.timestamp(value)
        return ts.cast(column.type())
    if column.type().is_date() and isinstance(value, str):
        return ibis.date(value)
    return value


# Above this many text values an `in` list is matched through an in-memory table: compiling
# thousands of literals into one expression takes seconds (a 7,500-id list: 31 s, against 0.31 s).
LONG_LIST = 200


def _one_of(col: ir.Column, values) -> ir.BooleanColumn:
    values = list(values)
    if len(values) > LONG_LIST and all(isinstance(v, str) for v in values) and col.type().is_string():
        return col.isin(ibis.memtable({"_value": values}, schema={"_value": "string"})._value)
    return col.isin(values)


def filter_expr(column: ir.Column, spec: Mapping, as_of: Any = None) -> ir.BooleanColumn:
    """Compile one validated filter against `column` (a column of the table being filtered).

    `as_of` (an Ibis timestamp or Python datetime) anchors `in_last`/`not_in_last`.
    """
    op, value, insensitive = spec["op"], spec.get("value"), spec.get("case") == "insensitive"
    if op in SET_OPS:
        is_set = column.notnull()
        if column.type().is_string():
            is_set = is_set & (column != "")
        return is_set if op == "is_set" else ~is_set
    col = column
    if insensitive and column.type().is_string():
        col = column.lower()
        value = [v.lower() if isinstance(v, str) else v for v in value] if isinstance(value, (list, tuple)) else (
            value.lower() if isinstance(value, str) else value
        )
    if op in STRING_OPS and not col.type().is_string():
        col = col.cast("string")
        value = value if isinstance(value, str) else str(value)
    if op == "equals":
        return (col == value).fill_null(False)
    if op == "not_equals":
        return (col != value).fill_null(True)
    if op == "contains":
        return col.contains(value).fill_null(False)
    if op == "not_contains":
        return (~col.contains(value)).fill_null(True)
    if op == "starts_with":
        return col.startswith(value).fill_null(False)
    if op == "ends_with":
        return col.endswith(value).fill_null(False)
    if op == "in":
        return _one_of(col, value).fill_null(False)
    if op == "not_in":
        return (~_one_of(col, value)).fill_null(True)
    if op in RELATIVE_DATE_OPS:
        if as_of is None:
            raise InputError(f"operator {op!r} needs an as-of moment")
        span = date_op_span(value, "value")
        anchor = ibis.literal(as_of) if not isinstance(as_of, ir.Expr) else as_of
        inside = (col.cast("timestamp('UTC')") >= anchor - ibis.interval(seconds=int(span.total_seconds()))) & (
            col.cast("timestamp('UTC')") <= anchor
        )
        return inside.fill_null(False) if op == "in_last" else (~inside).fill_null(True)
    if op in FUTURE_DATE_OPS:
        if as_of is None:
            raise InputError(f"operator {op!r} needs an as-of moment")
        span = date_op_span(value, "value")
        anchor = ibis.literal(as_of) if not isinstance(as_of, ir.Expr) else as_of
        ts = col.cast("timestamp('UTC')")
        ahead = (ts >= anchor) & (ts <= anchor + ibis.interval(seconds=int(span.total_seconds())))
        return ahead.fill_null(False) if op == "in_next" else (~ahead).fill_null(True)
    literal = _literal_like(column, value)
    compare = {
        ">": col > literal,
        ">=": col >= literal,
        "<": col < literal,
        "<=": col <= literal,
        "==": col == literal,
        "!=": col != literal,
    }[op]
    return compare.fill_null(op == "!=")


def where_expr(table: ir.Table, specs: list[Mapping], where: str = "where", as_of: Any = None) -> ir.BooleanColumn:
    """AND of validated filters over `table`'s columns; `True` for an empty list."""
    cond = ibis.literal(True)
    for i, raw in enumerate(specs or []):
        spec = validate_filter(raw, f"{where}[{i}]", set(table.columns))
        cond = cond & filter_expr(table[spec["property"]], spec, as_of)
    return cond
