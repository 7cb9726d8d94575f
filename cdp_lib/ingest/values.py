"""SQL that parses one input value into its canonical type, and the reason when it cannot."""

from __future__ import annotations

from cdp_lib import schema

TRUE_WORDS = ("true", "t", "yes", "y", "1", "on", "subscribed", "opted_in", "optedin", "opt_in",
              "optin", "opted in", "granted")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "unsubscribed", "opted_out", "optedout",
               "opt_out", "optout", "opted out", "denied", "never_subscribed", "not_subscribed")

# A number as text: digits with an optional dot, sign and exponent; no `1_000`, no `1,000`.
NUMBER_RE = r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"
_FLOATS = ("DOUBLE", "FLOAT", "REAL")
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT", "UHUGEINT")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _q(text: str) -> str:
    """Text to embed inside an SQL string literal."""
    return text.replace("'", "''")


def _value_msg(label: str, ref: str) -> str:
    """SQL building 'column "Label": 'value'' for a reason message (value cut at 60 chars),
    reading staged source column `ref` from the row struct `_row` of `validate`."""
    v = f"replace(CAST({_raw_value(ref)} AS VARCHAR), chr(0), '\\0')"
    shown = f"CASE WHEN length({v}) > 60 THEN left({v}, 57) || '...' ELSE {v} END"
    return f"'column \"{_q(label)}\": ''' || {shown} || ''''"


def _raw_value(ref: str) -> str:
    """SQL for staged source column `ref` as read from the file (a field of `_row`)."""
    return f"_row.{_ident(ref)}"


def _unparsed(parsed: str, ref: str, src_type: str, col: str) -> str:
    """SQL true when staged source column `ref` holds a value but its parsed form `parsed` is
    NULL (or, for coordinates, out of range). The parsed value is tested first, so the raw text
    is only looked at for the rare rows that failed."""
    raw = _raw_value(ref)
    present = f"nullif(trim({raw}), '')" if src_type.upper() == "VARCHAR" else raw
    bad = f"{parsed} IS NULL AND {present} IS NOT NULL"
    if src_type.upper() in _FLOATS:  # NaN is a value that is present
        bad = f"{parsed} IS NULL AND {raw} IS NOT NULL"
    limit = {"latitude": 90, "longitude": 180}.get(col)
    return f"({bad}) OR abs({parsed}) > {limit}" if limit else bad


def _storable_type(duck_type: str) -> str:
    """Type a typed source column keeps (nested values are stored as JSON text)."""
    t = duck_type.upper()
    if t.startswith(("STRUCT", "MAP", "UNION")) or t.endswith("]"):
        return "VARCHAR"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "TIMESTAMPTZ"
    if t.startswith("DECIMAL") or t in ("FLOAT", "REAL", "HUGEINT", "UHUGEINT", "UBIGINT"):
        return "DOUBLE"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"):
        return "BIGINT"
    return t


# Text columns whose surrounding blanks are dropped (and which are NULL when blank).
_TRIMMED = {"metric", "event_id", "product_id"}
# Plain numbers as epoch time, by magnitude; below 1e8 (1973-03-03 in seconds) a number is
# not taken for a time at all (a bare `2024` is a year, not 33 minutes after 1970).
_EPOCH = (
    "CASE WHEN abs({x}) < 1e8 THEN NULL WHEN abs({x}) < 1e11 THEN to_timestamp({x}) "
    "WHEN abs({x}) < 1e14 THEN to_timestamp({x} / 1e3) "
    "WHEN abs({x}) < 1e17 THEN to_timestamp({x} / 1e6) END"
)
_TS_EXPECTED = (
    "is not a timestamp (expected ISO 8601 such as 2024-01-31T12:00:00Z or 2024-01-31, a "
    "compact date 20240131, or epoch seconds/milliseconds; allowed range "
    f"{schema.EARLIEST_TIME} to {schema.LATEST_TIME})"
)
_NUMBER_EXPECTED = "(use digits and a dot, no currency signs, thousands separators or underscores)"


def in_time_range(value: str) -> str:
    """SQL keeping a TIMESTAMPTZ `value` only inside the accepted range (else NULL)."""
    lo = f"TIMESTAMPTZ '{schema.EARLIEST_TIME} 00:00:00+00'"
    hi = f"TIMESTAMPTZ '{schema.LATEST_TIME} 00:00:00+00'"
    return f"(CASE WHEN {value} >= {lo} AND {value} < {hi} THEN {value} END)"


def text_number(s: str, target: str) -> str:
    """SQL for text `s` as DOUBLE or BIGINT, NULL unless it is written as a plain number."""
    if target == "BIGINT":  # a cast would round '1.5' to 2
        return f"CASE WHEN regexp_full_match({s}, '[+-]?[0-9]+') THEN TRY_CAST({s} AS BIGINT) END"
    value = f"TRY_CAST({s} AS DOUBLE)"
    return f"CASE WHEN regexp_full_match({s}, '{NUMBER_RE}') AND isfinite({value}) THEN {value} END"


def text_timestamp(s: str) -> str:
    """SQL for text `s` as TIMESTAMPTZ (ISO 8601, compact date, epoch), in range, else NULL."""
    x = f"TRY_CAST({s} AS DOUBLE)"
    value = (
        f"CASE WHEN regexp_full_match({s}, '[0-9]{{8}}') "
        f"THEN CAST(try_strptime({s}, '%Y%m%d') AS TIMESTAMPTZ) "
        f"WHEN regexp_full_match({s}, '{NUMBER_RE}') THEN {_EPOCH.format(x=x)} "
        f"ELSE TRY_CAST({s} AS TIMESTAMPTZ) END"
    )
    return in_time_range(value)


def _number_as_text(src: str, src_type: str) -> str:
    """A typed number as identifier text: integral floats lose their `.0` (pandas writes an id
    column with gaps as float64, so 123.0 must be the same person as CSV's 123); NaN -> NULL."""
    if src_type in _FLOATS:
        return (f"CASE WHEN isnan({src}) OR isinf({src}) THEN NULL "
                f"WHEN {src} = trunc({src}) AND abs({src}) < 1e18 THEN CAST(CAST({src} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({src} AS VARCHAR) END")
    if src_type.startswith("DECIMAL"):
        return (f"CASE WHEN {src} = trunc({src}) THEN CAST(CAST({src} AS HUGEINT) AS VARCHAR) "
                f"ELSE CAST(CAST({src} AS DOUBLE) AS VARCHAR) END")
    return f"CAST({src} AS VARCHAR)"


def _parse(src: str, src_type: str, target: str, col: str) -> tuple[str, str | None, str]:
    """SQL for (parsed value, 'present but unparseable' condition, reason tail)."""
    src_type = src_type.upper()
    nested = src_type.startswith(("STRUCT", "MAP", "UNION")) or src_type.endswith("]")
    is_text = src_type == "VARCHAR"
    numeric = src_type in _FLOATS or src_type in _INTEGERS or src_type.startswith("DECIMAL")
    s = f"nullif(trim({src}), '')" if is_text else src
    if target == "VARCHAR":
        if nested:
            return f"CAST(to_json({src}) AS VARCHAR)", None, ""
        if is_text:  # keys are trimmed; other text passes through untouched, unless it holds NUL
            text = s if col in _TRIMMED else src
            return (f"CASE WHEN NOT contains({src}, chr(0)) THEN {text} END",
                    f"contains({src}, chr(0))", "holds a NUL character (byte 0); remove it")
        if numeric:
            return _number_as_text(src, src_type), None, ""
        return f"CAST({src} AS VARCHAR)", None, ""
    if target in ("DOUBLE", "BIGINT"):
        if is_text:
            value = text_number(s, target)
        else:
            value = f"TRY_CAST({src} AS {target})"
            if src_type in _FLOATS:  # NaN and infinity are refused like their text spellings
                value = f"CASE WHEN isfinite({src}) THEN {value} END"
        bad = f"{s} IS NOT NULL AND {value} IS NULL"
        if col == "latitude":
            return value, f"({bad}) OR abs({value}) > 90", "is not a latitude (a number from -90 to 90)"
        if col == "longitude":
            return value, f"({bad}) OR abs({value}) > 180", "is not a longitude (a number from -180 to 180)"
        kind = "a number" if target == "DOUBLE" else "a whole number"
        return value, bad, f"is not {kind} {_NUMBER_EXPECTED}"
    if target == "BOOLEAN":
        if src_type == "BOOLEAN":
            return src, None, ""
        low = f"lower(CAST({s} AS VARCHAR))"
        value = (
            f"CASE WHEN {low} IN ({', '.join(map(_lit, TRUE_WORDS))}) THEN true "
            f"WHEN {low} IN ({', '.join(map(_lit, FALSE_WORDS))}) THEN false END"
        )
        return value, f"{s} IS NOT NULL AND {value} IS NULL", (
            "is not a yes/no value (expected true/false, yes/no, 1/0, y/n, "
            "subscribed/unsubscribed or opted_in/opted_out)"
        )
    if target == "TIMESTAMPTZ":
        if src_type.startswith("TIMESTAMP") or src_type == "DATE":
            value = in_time_range(f"CAST({src} AS TIMESTAMPTZ)")
        elif numeric:  # the rules of the same number written as text
            value = text_timestamp(_number_as_text(src, src_type))
        elif is_text:
            value = text_timestamp(s)
        else:  # booleans, blobs, nested values are no time
            value = "NULL::TIMESTAMPTZ"
        return value, f"{s} IS NOT NULL AND {value} IS NULL", _TS_EXPECTED
    value = f"TRY_CAST({s} AS {target})"
    return value, f"{s} IS NOT NULL AND {value} IS NULL", f"is not a {target} value"


def _row_json(names: dict[str, str], alias: str) -> str:
    """SQL turning one staged row into a JSON object keyed by the source column names."""
    parts = ", ".join(f"{_lit(c)}, {alias}.{_ident(ref)}" for c, ref in names.items())
    return f"CAST(json_object({parts}) AS VARCHAR)"
