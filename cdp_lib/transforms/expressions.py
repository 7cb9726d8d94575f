"""Transforms as Ibis expressions: merge -> format -> standardise, per profile.

Every function takes and returns Ibis string values, so the same transform runs on any backend
that holds the profiles. The exact rules (character sets, date formats) are in
docs/data-management.md; `tests/test_transforms.py` checks them against a plain-Python reference.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from cdp_lib.transforms.definitions import TransformDefinition

# Quote characters removed by strip_quotes: ' " ` and the typographic ‘ ’ “ ” ´.
QUOTES = "'\"`\u2018\u2019\u201c\u201d\u00b4"
# strip_special keeps letters, digits, whitespace and these; everything else goes.
KEPT_PUNCTUATION = "-.,'@+_/:&"
_QUOTES_RE = "[" + QUOTES.replace("\\", "\\\\") + "]"
_SPECIAL_RE = r"[^\pL\pN\s" + KEPT_PUNCTUATION.replace("-", r"\-") + "]"
_EDGE_SPACE_RE = r"^\s+|\s+$"

MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
          "sep": 9, "oct": 10, "nov": 11, "dec": 12}
_MONTH_RE = ("(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
             "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
# Accepted date spellings, tried in this order: (regex, group of year, month, day); a month
# group holding a name is read through MONTHS. Anything after a date-time's date is ignored.
DATE_FORMATS = (
    ("YYYY-MM-DD[Thh:mm...]", r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$", (1, 2, 3)),
    ("YYYY/MM/DD", r"^(\d{4})/(\d{1,2})/(\d{1,2})$", (1, 2, 3)),
    ("YYYYMMDD", r"^(\d{4})(\d{2})(\d{2})$", (1, 2, 3)),
    ("MM/DD/YYYY", r"^(\d{1,2})/(\d{1,2})/(\d{4})$", (3, 1, 2)),
    ("DD.MM.YYYY", r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$", (3, 2, 1)),
    ("Month D, YYYY", r"(?i)^" + _MONTH_RE + r"\.? (\d{1,2}),? (\d{4})$", (3, 1, 2)),
    ("D Month YYYY", r"(?i)^(\d{1,2}) " + _MONTH_RE + r"\.?,? (\d{4})$", (3, 2, 1)),
)


def blank_to_null(value: ir.StringValue) -> ir.StringValue:
    """NULL for NULL, '' and whitespace-only text; the value itself otherwise."""
    value = value.cast("string")
    return ibis.ifelse(value.re_replace(_EDGE_SPACE_RE, "") == "", ibis.null("string"), value)


def merged(table: ir.Table, props: tuple[str, ...]) -> ir.StringValue:
    """The first non-empty value among `props`, in priority order, as written."""
    return ibis.coalesce(*(blank_to_null(table[p]) for p in props))


def strip_quotes(value: ir.StringValue) -> ir.StringValue:
    return value.re_replace(_QUOTES_RE, "")


def strip_special(value: ir.StringValue) -> ir.StringValue:
    return value.re_replace(_SPECIAL_RE, "")


def trim(value: ir.StringValue) -> ir.StringValue:
    return value.re_replace(_EDGE_SPACE_RE, "")


def capitalize(value: ir.StringValue) -> ir.StringValue:
    """Each space-separated word: first character upper case, the rest lower case."""
    words = value.split(" ").map(lambda w: w.substr(0, 1).upper() + w.substr(1).lower())
    return ibis.ifelse(value.isnull(), ibis.null("string"), words.join(" "))


def _date_part(value: ir.StringValue, pattern: str, group: int, month_names: bool) -> ir.IntegerValue:
    text = value.re_extract(pattern, group)
    if month_names:
        return text.lower().substr(0, 3).substitute(MONTHS, else_=ibis.null("int64")).cast("int64")
    return text.try_cast("int64")


def iso_date_step(table: ir.Table, column: str = "_v") -> ir.Table:
    """`column` rewritten as `YYYY-MM-DD` from any of DATE_FORMATS; NULL when it is no valid
    calendar date. Two projections, so each value is referenced by column, not re-inlined."""
    value = table[column]
    parts = {"_y": [], "_m": [], "_d": []}
    for _, pattern, groups in DATE_FORMATS:
        hit = value.re_search(pattern)
        names = _MONTH_RE in pattern
        for (part, found), group in zip(parts.items(), groups):
            found.append(ibis.ifelse(hit, _date_part(value, pattern, group, names and part == "_m"),
                                     ibis.null("int64")))
    # The formats do not overlap, so the first one that matches decides all three parts.
    t = table.mutate(**{part: ibis.coalesce(*found) for part, found in parts.items()})
    y, m, d = t._y, t._m, t._d
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = ibis.cases((m == 2, ibis.ifelse(leap, 29, 28)), (m.isin([4, 6, 9, 11]), 30), else_=31)
    valid = (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= days)
    text = (y.cast("string").lpad(4, "0") + "-" + m.cast("string").lpad(2, "0") + "-"
            + d.cast("string").lpad(2, "0"))
    return t.mutate(**{column: ibis.ifelse(valid.fill_null(False), text, ibis.null("string"))}).drop(
        "_y", "_m", "_d")


FORMATTERS = {"strip_quotes": strip_quotes, "strip_special": strip_special, "trim": trim,
              "capitalize": capitalize}


def standardized(value: ir.StringValue, definition: TransformDefinition) -> ir.StringValue:
    """The replacement of the first matching rule; the value itself when none matches."""
    if not definition.standardize:
        return value
    fold = (lambda v: v) if definition.case_sensitive else (lambda v: v.lower())
    folded = fold(value)
    branches = []
    for rule in definition.standardize:
        needle = rule.value if definition.case_sensitive else rule.value.lower()
        cond = folded == needle if rule.kind == "equals" else folded.contains(needle)
        branches.append((cond.fill_null(False), ibis.literal(rule.replace, "string")))
    return ibis.cases(*branches, else_=value)


def source_value(table: ir.Table, definition: TransformDefinition) -> ir.StringValue:
    """What the transform starts from: the merge, or the target property itself."""
    if definition.merge:
        return merged(table, definition.merge)
    return table[definition.target].cast("string")


def pipeline(table: ir.Table, definition: TransformDefinition) -> ir.Table:
    """`table` plus `_v` (the `<target>_transformed` value: merge -> format -> standardise,
    blank -> NULL), `_pre` and `_iso` (what iso_date was given and gave, for its warnings).

    One projection per step: each step reads the previous step's column, so the SQL grows
    linearly with the number of steps instead of inlining every step into the next."""
    t = table.mutate(_v=source_value(table, definition))
    for op in definition.format:  # already in FORMAT_OPS order
        if op == "iso_date":
            t = t.mutate(_pre=t._v)
            t = iso_date_step(t)
            t = t.mutate(_iso=t._v)
        else:
            t = t.mutate(_v=FORMATTERS[op](t._v))
    if "iso_date" not in definition.format:
        t = t.mutate(_pre=ibis.null("string"), _iso=ibis.null("string"))
    t = t.mutate(_v=standardized(t._v, definition))
    return t.mutate(_v=blank_to_null(t._v))


def preview_table(table: ir.Table, definition: TransformDefinition) -> ir.Table:
    """profile_id, before (the target as stored), after, status (changed/unchanged/empty),
    and `bad_date` (true when iso_date could not read a non-empty value)."""
    t = pipeline(table, definition)
    before = t[definition.target].cast("string") if definition.target in table.columns else ibis.null("string")
    t = t.select(profile_id=t.profile_id, before=before, after=t._v, _pre=t._pre, _iso=t._iso)
    status = ibis.cases((t.after.isnull(), "empty"), (t.before == t.after, "unchanged"), else_="changed")
    bad_date = (blank_to_null(t._pre).notnull() & t._iso.isnull()) if "iso_date" in definition.format \
        else ibis.literal(False)
    return t.select("profile_id", "before", "after", status=status, bad_date=bad_date)
