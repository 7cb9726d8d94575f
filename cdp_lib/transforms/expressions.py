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


def iso_date(value: ir.StringValue) -> ir.StringValue:
    """`YYYY-MM-DD` from any of DATE_FORMATS; NULL when the text is no valid calendar date."""
    ys, ms, ds = [], [], []
    for _, pattern, (gy, gm, gd) in DATE_FORMATS:
        hit = value.re_search(pattern)
        names = _MONTH_RE in pattern
        ys.append(ibis.ifelse(hit, _date_part(value, pattern, gy, False), ibis.null("int64")))
        ms.append(ibis.ifelse(hit, _date_part(value, pattern, gm, names), ibis.null("int64")))
        ds.append(ibis.ifelse(hit, _date_part(value, pattern, gd, False), ibis.null("int64")))
    # The first format that matches decides (the patterns do not overlap).
    first = ibis.cases(*((value.re_search(p), i) for i, (_, p, _) in enumerate(DATE_FORMATS)),
                       else_=ibis.null("int64"))
    y = first.cases(*((i, ys[i]) for i in range(len(DATE_FORMATS))), else_=ibis.null("int64"))
    m = first.cases(*((i, ms[i]) for i in range(len(DATE_FORMATS))), else_=ibis.null("int64"))
    d = first.cases(*((i, ds[i]) for i in range(len(DATE_FORMATS))), else_=ibis.null("int64"))
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = ibis.cases((m == 2, ibis.ifelse(leap, 29, 28)), (m.isin([4, 6, 9, 11]), 30), else_=31)
    valid = (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= days)
    text = (y.cast("string").lpad(4, "0") + "-" + m.cast("string").lpad(2, "0") + "-"
            + d.cast("string").lpad(2, "0"))
    return ibis.ifelse(valid.fill_null(False), text, ibis.null("string"))


FORMATTERS = {"strip_quotes": strip_quotes, "strip_special": strip_special, "trim": trim,
              "capitalize": capitalize, "iso_date": iso_date}


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


def formatted(value: ir.StringValue, definition: TransformDefinition) -> ir.StringValue:
    for op in definition.format:  # already in FORMAT_OPS order
        value = FORMATTERS[op](value)
    return value


def transformed(table: ir.Table, definition: TransformDefinition) -> ir.StringValue:
    """The `<target>_transformed` value: merge -> format -> standardise, blank -> NULL."""
    return blank_to_null(standardized(formatted(source_value(table, definition), definition), definition))


def preview_table(table: ir.Table, definition: TransformDefinition) -> ir.Table:
    """profile_id, before (the target as stored), after, status (changed/unchanged/empty),
    and `bad_date` (true when iso_date could not read a non-empty value)."""
    before = table[definition.target].cast("string") if definition.target in table.columns else ibis.null("string")
    after = transformed(table, definition)
    status = ibis.cases((after.isnull(), "empty"), (before == after, "unchanged"), else_="changed")
    if "iso_date" in definition.format:
        steps = [op for op in definition.format if op != "iso_date"]
        pre = source_value(table, definition)
        for op in steps:
            pre = FORMATTERS[op](pre)
        bad_date = blank_to_null(pre).notnull() & iso_date(pre).isnull()
    else:
        bad_date = ibis.literal(False)
    return table.select(profile_id=table.profile_id, before=before, after=after, status=status,
                        bad_date=bad_date)
