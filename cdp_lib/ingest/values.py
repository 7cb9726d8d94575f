"""SQL that parses one input value into its canonical type, and the reason when it cannot."""

from __future__ import annotations

TRUE_WORDS = ("true", "t", "yes", "y", "1", "on", "subscribed", "opted_in", "optedin", "opt_in",
              "optin", "opted in", "granted")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "unsubscribed", "opted_out", "optedout",
               "opt_out", "optout", "opted out", "denied", "never_subscribed", "not_subscribed")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _q(text: str) -> str:
    """Text to embed inside an SQL string literal."""
    return text.replace("'", "''")


def _value_msg(src: str) -> str:
    """SQL building 'column "Src": 'value'' for a reason message (value cut at 60 chars),
    reading the raw value from the row struct `_row` of `validate`."""
    v = f"CAST({_raw_value(src)} AS VARCHAR)"
    shown = f"CASE WHEN length({v}) > 60 THEN left({v}, 57) || '...' ELSE {v} END"
    return f"'column \"{_q(src)}\": ''' || {shown} || ''''"


def _raw_value(src: str) -> str:
    """SQL for source column `src` as read from the file (a field of `_row`)."""
    return f"_row.{_ident(src)}"


def _unparsed(parsed: str, src: str, src_type: str, col: str) -> str:
    """SQL true when source column `src` holds a value but its parsed form `parsed` is NULL
    (or, for coordinates, out of range). The parsed value is tested first, so the raw text is
    only looked at for the rare rows that failed."""
    raw = _raw_value(src)
    present = f"nullif(trim({raw}), '')" if src_type.upper() == "VARCHAR" else raw
    bad = f"{parsed} IS NULL AND {present} IS NOT NULL"
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
_EPOCH = (
    "CASE WHEN abs({x}) < 1e11 THEN to_timestamp({x}) WHEN abs({x}) < 1e14 THEN to_timestamp({x} / 1e3) "
    "WHEN abs({x}) < 1e17 THEN to_timestamp({x} / 1e6) END"
)
_TS_EXPECTED = (
    "is not a timestamp (expected ISO 8601 such as 2024-01-31T12:00:00Z or 2024-01-31, "
    "or epoch seconds/milliseconds)"
)


def _parse(src: str, src_type: str, target: str, col: str) -> tuple[str, str | None, str]:
    """SQL for (parsed value, 'present but unparseable' condition, reason tail)."""
    src_type = src_type.upper()
    nested = src_type.startswith(("STRUCT", "MAP", "UNION")) or src_type.endswith("]")
    is_text = src_type == "VARCHAR"
    s = f"nullif(trim({src}), '')" if is_text else src
    if target == "VARCHAR":
        if nested:
            return f"CAST(to_json({src}) AS VARCHAR)", None, ""
        if is_text:  # keys are trimmed; other text passes through untouched (cheap)
            return (s if col in _TRIMMED else src), None, ""
        return f"CAST({src} AS VARCHAR)", None, ""
    if target in ("DOUBLE", "BIGINT"):
        if is_text:
            value = f"TRY_CAST({s} AS {target})"
            if target == "DOUBLE":
                value = f"CASE WHEN isfinite({value}) THEN {value} END"
            else:  # a cast would round '1.5' to 2
                value = f"CASE WHEN regexp_full_match({s}, '[+-]?[0-9]+') THEN {value} END"
        else:
            value = f"TRY_CAST({src} AS {target})"
        bad = f"{s} IS NOT NULL AND {value} IS NULL"
        if col == "latitude":
            return value, f"({bad}) OR abs({value}) > 90", "is not a latitude (a number from -90 to 90)"
        if col == "longitude":
            return value, f"({bad}) OR abs({value}) > 180", "is not a longitude (a number from -180 to 180)"
        kind = "a number" if target == "DOUBLE" else "a whole number"
        return value, bad, f"is not {kind} (use digits and a dot, no currency signs or thousands separators)"
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
            return f"CAST({src} AS TIMESTAMPTZ)", None, ""
        if not is_text:
            x = f"CAST({src} AS DOUBLE)"
            value = _EPOCH.format(x=x)
            return value, f"{src} IS NOT NULL AND {value} IS NULL", _TS_EXPECTED
        x = f"TRY_CAST({s} AS DOUBLE)"
        # Eight digits read as a compact date (20240131), other plain numbers as epoch time.
        value = (
            f"coalesce(TRY_CAST({s} AS TIMESTAMPTZ), CASE WHEN regexp_full_match({s}, '[0-9]{{8}}') "
            f"THEN CAST(try_strptime({s}, '%Y%m%d') AS TIMESTAMPTZ) ELSE {_EPOCH.format(x=x)} END)"
        )
        return value, f"{s} IS NOT NULL AND {value} IS NULL", _TS_EXPECTED
    value = f"TRY_CAST({s} AS {target})"
    return value, f"{s} IS NOT NULL AND {value} IS NULL", f"is not a {target} value"


def _row_json(types: dict[str, str], alias: str) -> str:
    """SQL turning one staged row into a JSON object with the source column names."""
    parts = ", ".join(f"{_lit(c)}, {alias}.{_ident(c)}" for c in types)
    return f"CAST(json_object({parts}) AS VARCHAR)"
