"""Tables for people: every cell formatted by its column's kind, no index, long text wrapped.

A column's kind comes from `kinds` when given, else from its name and values (see `column_kind`):
``money``, ``percent`` (a ratio 0-1), ``points`` (a value already in percent), ``days``,
``count``, ``number``, ``date``, ``text``. `table(df)` returns a `Table`, which a notebook shows as
HTML and a terminal prints as aligned text; `format_frame(df)` returns the cells as strings.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cdp_lib.display import format as fmt

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("money", "percent", "points", "days", "count", "number", "date", "text")
MONEY_WORDS = ("revenue", "monetary", "clv", "order_value", "spend", "price", "amount", "aov")
PERCENT_WORDS = ("share", "rate", "retention", "conversion", "probability", "p_alive", "reachable")
POINTS_WORDS = ("pct", "percent")
DAYS_WORDS = ("days", "recency")
TEXT_WIDTH = 60


def column_kind(name: str, values: pd.Series | None = None) -> str:
    """The kind of column `name` by its words (``*_revenue`` is money, ``share`` a ratio, ...),
    then by its dtype (integers are counts, other numbers plain numbers, datetimes dates)."""
    low = str(name).lower().replace(" ", "_")
    tokens = set(low.split("_"))

    def has(words):  # whole words of a snake_case name; "order_value" as a phrase
        return any((w in low) if "_" in w else (w in tokens) for w in words)

    dtype = getattr(values, "dtype", None)
    numeric = dtype is not None and dtype.kind in "iuf"
    if dtype is not None and dtype.kind in "mM":
        return "date" if dtype.kind == "M" else "days"
    if numeric or dtype is None or dtype.kind == "O":
        if has(POINTS_WORDS):
            return "points"
        if has(PERCENT_WORDS) and not low.endswith(("_count", "customers", "profiles")):
            return "percent"
        if has(MONEY_WORDS) or low in ("value", "historic", "predicted") or low.endswith("_value"):
            return "money" if numeric or dtype is None else "text"
        if "seconds" in tokens and numeric:
            return "count"  # whole seconds
        if has(DAYS_WORDS) and numeric:
            return "days"
    if numeric:
        return "count" if dtype.kind in "iu" else "number"
    if dtype is not None and dtype.kind == "b":
        return "text"
    return "text"


def format_value(value: Any, kind: str, currency: str | None = None, decimals: int | None = None) -> str:
    """One cell of a column of `kind`."""
    if kind == "money":
        return fmt.money(value, currency, decimals) if not isinstance(value, str) else value
    if kind == "percent":
        return fmt.percent(value, 1 if decimals is None else decimals) if not isinstance(value, str) else value
    if kind == "points":
        return (fmt.percent(value, 1 if decimals is None else decimals, ratio=False)
                if not isinstance(value, str) else value)
    if kind == "days":
        return fmt.days(value) if not isinstance(value, str) else value
    if kind == "count":
        return fmt.number(value, 0 if decimals is None else decimals) if not isinstance(value, str) else value
    if kind == "number":
        if isinstance(value, str):
            return value
        return fmt.number(value, 2 if decimals is None else decimals)
    if kind == "date":  # a time of day only when there is one
        return fmt.cell(value) if hasattr(value, "hour") else fmt.date(value)
    return fmt.cell(value)


def format_frame(df: pd.DataFrame, kinds: Mapping[str, str] | None = None, currency: str | None = None,
                 decimals: Mapping[str, int] | None = None, labels: Mapping[str, str] | None = None,
                 width: int | None = None, per_row: tuple[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """`df` with every cell as display text and a plain 0..n-1 index; `labels` renames columns
    (default: underscores become spaces); `width` wraps text cells (newline-separated).

    `per_row=("metric", ["value", "previous"])` formats those columns by each row's label
    (a "Revenue" row as money, an "Orders" row as a count) for tables of mixed measures."""
    import pandas as pd

    if currency is None:
        from cdp_lib.display.settings import currency as setting

        currency = setting()
    kinds = dict(kinds or {})
    bad = {k: v for k, v in kinds.items() if v not in KINDS}
    if bad:
        from cdp_lib.errors import InputError

        raise InputError(f"table kinds {bad}: expected one of {', '.join(KINDS)}")
    decimals = dict(decimals or {})
    frame = df.reset_index() if _named_index(df) else df.reset_index(drop=True)
    out = {}
    for col in frame.columns:
        series = frame[col]
        kind = kinds.get(col) or column_kind(col, series)
        if per_row and col in per_row[1]:
            cells = [format_value(v, _row_kind(label, v), currency, decimals.get(col))
                     for label, v in zip(frame[per_row[0]].tolist(), series.tolist())]
        else:
            cells = [format_value(v, kind, currency, decimals.get(col)) for v in series.tolist()]
        if width and kind == "text":
            cells = [fmt.wrap(c, width) for c in cells]
        name = (labels or {}).get(col, str(col).replace("_", " ") if labels is None else str(col))
        out[name] = cells
    return pd.DataFrame(out, index=range(len(frame)))


def _row_kind(label: Any, value: Any) -> str:
    kind = column_kind(str(label))
    if kind != "text":
        return kind
    whole = not fmt.is_missing(value) and not isinstance(value, str) and float(value).is_integer()
    return "count" if whole else "number"


def _named_index(df: pd.DataFrame) -> bool:
    """A meaningful index (a pivot's row labels) is kept as columns; a plain RangeIndex is dropped."""
    import pandas as pd

    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return False
    return any(n is not None for n in df.index.names)


class Table:
    """A formatted table: HTML in notebooks (no index, right-aligned numbers, wrapped text), text
    in terminals. `.frame` holds the display strings."""

    def __init__(self, df: pd.DataFrame, kinds: Mapping[str, str] | None = None, currency: str | None = None,
                 decimals: Mapping[str, int] | None = None, labels: Mapping[str, str] | None = None,
                 caption: str | None = None, per_row: tuple[str, Sequence[str]] | None = None):
        self.frame = format_frame(df, kinds, currency, decimals, labels, per_row=per_row)
        self._numeric = {name for name, col in zip(self.frame.columns, _source_columns(df))
                         if (kinds or {}).get(col, column_kind(col, _column(df, col))) not in ("text", "date")}
        self.caption = caption

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.frame.columns)
        rows = []
        for record in self.frame.itertuples(index=False):
            cells = []
            for name, value in zip(self.frame.columns, record):
                # numbers, ids and dates never break at a hyphen; sentences wrap
                cls = (' class="num"' if name in self._numeric
                       else ' class="nw"' if " " not in str(value) and len(str(value)) <= 32 else "")
                cells.append(f"<td{cls}>{html.escape(str(value))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        if not rows:
            rows.append(f'<tr><td class="empty" colspan="{max(len(self.frame.columns), 1)}">none</td></tr>')
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f'<table class="cdp-table">{caption}<thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table>{_CSS}')

    def __str__(self) -> str:
        return text_table(self.frame)

    __repr__ = __str__


def _source_columns(df):
    frame = df.reset_index() if _named_index(df) else df
    return list(frame.columns)


def _column(df, col):
    frame = df.reset_index() if _named_index(df) else df
    return frame[col]


def table(df: pd.DataFrame, kinds: Mapping[str, str] | None = None, currency: str | None = None,
          decimals: Mapping[str, int] | None = None, labels: Mapping[str, str] | None = None,
          caption: str | None = None, per_row: tuple[str, Sequence[str]] | None = None) -> Table:
    """A `Table` of `df` for display (see the module docstring and `format_frame`)."""
    return Table(df, kinds, currency, decimals, labels, caption, per_row)


def pairs(mapping: Mapping[str, Any], names: tuple[str, str] = ("item", "value"),
          currency: str | None = None) -> Table:
    """A dict shown as a two-column table; each value formatted by its key's kind
    (``holdout_error_pct`` -> ``15.3 %``, ``revenue`` -> money), keys with spaces for underscores."""
    import pandas as pd

    if currency is None:
        from cdp_lib.display.settings import currency as setting

        currency = setting()
    rows = []
    for key, value in mapping.items():
        kind = "text" if isinstance(value, bool) else column_kind(key)
        parsed = _number_text(value)
        if parsed is not value and kind in ("text", "count", "number"):
            places = len(value.strip().partition(".")[2])  # keep the decimals the value was given with
            shown = fmt.number(parsed, places if places else None)
        else:
            shown = format_value(parsed, kind, currency)
        rows.append((str(key).replace("_", " "), shown))
    return Table(pd.DataFrame(rows, columns=list(names)), kinds={names[0]: "text", names[1]: "text"}, currency=currency)


def _number_text(value: Any) -> Any:
    """'1799' -> 1799 and '-20464.9' -> -20464.9 (values a report stringified); other text as is."""
    import re

    if isinstance(value, str) and re.fullmatch(r"-?(0|[1-9]\d{0,14})(\.\d+)?", value.strip()):
        return float(value) if "." in value else int(value)
    return value


def text_table(frame: pd.DataFrame, max_width: int | None = None) -> str:
    """Display strings as aligned text columns (numbers right-aligned). With `max_width`, the
    widest columns are narrowed until a line fits: headers break after underscores, text cells
    between words; numbers never break."""
    columns = [str(c) for c in frame.columns]
    rows = [[str(v) for v in r] for r in frame.itertuples(index=False)]
    numeric = [all(_looks_numeric(r[i]) for r in rows) and bool(rows) for i in range(len(columns))]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    if max_width:
        floors = [max([len(p) for p in _header_parts(c)]
                      + [len(r[i]) if numeric[i] else max((len(w) for w in r[i].split()), default=0) for r in rows])
                  for i, c in enumerate(columns)]
        widths = _shrink(widths, floors, max_width)
    lines_out = []
    for is_head, cells in [(True, columns)] + [(False, r) for r in rows]:
        parts = [(_wrap_header(c, w) if is_head else fmt.wrap(c, w).split("\n")) if len(c) > w else [c]
                 for c, w in zip(cells, widths)]
        height = max(len(p) for p in parts)
        for k in range(height):
            pieces = []
            for i, (p, w) in enumerate(zip(parts, widths)):
                text = p[k] if k < len(p) else ""
                pieces.append(text.rjust(w) if numeric[i] else text.ljust(w))
            lines_out.append("  ".join(pieces).rstrip())
    return "\n".join(lines_out)


def _header_parts(header: str) -> list[str]:
    """'conversion_from_start' -> ['conversion_', 'from_', 'start'] (break points after '_')."""
    parts, cur = [], ""
    for ch in header:
        cur += ch
        if ch in "_ ":
            parts.append(cur)
            cur = ""
    return [*parts, cur] if cur else parts


def _wrap_header(header: str, width: int) -> list[str]:
    lines, cur = [], ""
    for part in _header_parts(header):
        if cur and len(cur) + len(part.rstrip()) > width:
            lines.append(cur.rstrip())
            cur = ""
        cur += part
    return [*lines, cur.rstrip()] if cur else lines


def _shrink(widths, floors, max_width):
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > max_width:
        i = max(range(len(widths)), key=lambda j: widths[j] - floors[j])
        if widths[i] <= floors[i]:
            break
        widths[i] -= 1
    return widths


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace(".", "").replace("%", "").replace("-", "").replace("+", "")
    stripped = stripped.lstrip("$€£¥₩₹").strip()
    return bool(stripped) and stripped.replace(" ", "").isdigit() or text == fmt.MISSING


_CSS = ("<style>table.cdp-table{border-collapse:collapse;font-family:var(--cdp-font,'DejaVu Sans',sans-serif);"
        "font-size:13px;margin:0.5em 0}table.cdp-table th{background:#f1f4f8;text-align:left;padding:4px 10px;"
        "border-bottom:2px solid #c9d3df}table.cdp-table td{padding:3px 10px;border-bottom:1px solid #e3e8ee;"
        "white-space:normal;max-width:32em;vertical-align:top}table.cdp-table td.num{text-align:right;"
        "white-space:nowrap;font-variant-numeric:tabular-nums}table.cdp-table caption{text-align:left;"
        "font-weight:bold;padding:4px 0}"
        # JupyterLab's output CSS right-aligns every cell: text reads left, numbers right
        "table.cdp-table td,table.cdp-table th{text-align:left!important}"
        "table.cdp-table td.num{text-align:right!important}table.cdp-table td.nw{white-space:nowrap}</style>")
