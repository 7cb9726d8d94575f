"""Numbers, money, percentages, days and tables formatted for people reading a report.

The rules, one place for every report, app and CLI table:

- whole numbers with thousands separators (``12,345``); other numbers with fixed decimals, never
  scientific notation (``0.0001``, ``1,234,567.89``);
- money with the store's currency (`cdp_lib.display.settings.currency`): ``$1,234.50``,
  ``€1,234.50``, ``¥1,235``, or ``1,234.50 CHF`` for a currency without a known symbol;
- percentages with one decimal and a space: ``74.2 %`` (ratios 0-1 by default);
- days as whole numbers (``12``), dates as ``YYYY-MM-DD``;
- ``—`` for anything missing (None, NaN, NaT);
- dicts and lists as readable text (``a, b, c``; ``key: value; key: value``), never raw.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

MISSING = "—"

# Symbol placed before the amount, and the usual number of decimals (ISO 4217 minor units).
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KRW": "₩", "CNY": "¥", "INR": "₹",
                    "CAD": "CA$", "AUD": "A$", "BRL": "R$"}
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND"})


def is_missing(value: Any) -> bool:
    """True for None, float NaN, pandas NA/NaT (anything equal to nothing, itself included)."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, Mapping, list, tuple, set)):
        return False
    if hasattr(value, "shape") and getattr(value, "ndim", 0):
        return False  # an array is a value, even when empty
    try:
        return bool(value != value)  # NaN, NaT, pd.NA (pd.NA != pd.NA raises TypeError)
    except TypeError:
        return True


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    # "-0" and "-0.0" read as a sign error
    return text.lstrip("-") if float(text.replace(",", "")) == 0 else text


def number(value: Any, decimals: int | None = None) -> str:
    """``12,345``; floats get `decimals` places (default: 0 for whole values, else 2)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and decimals is None:
        return f"{value:,d}"
    v = float(value)
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if decimals is None:
        decimals = 0 if v.is_integer() else 2
    return _fixed(v, decimals)


def money(value: Any, currency: str | None = None, decimals: int | None = None) -> str:
    """``$1,234.50`` in `currency` (default: the workspace setting); negative ``-$12.00``."""
    if is_missing(value):
        return MISSING
    if currency is None:
        from cdp_lib.display.settings import currency as setting

        currency = setting()
    code = currency.upper()
    if decimals is None:
        decimals = 0 if code in ZERO_DECIMAL_CURRENCIES else 2
    v = float(value)
    amount = _fixed(abs(v), decimals)
    sign = "-" if v < 0 and amount.strip("0.,") else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {code}"


def percent(value: Any, decimals: int = 1, ratio: bool = True, signed: bool = False) -> str:
    """``74.2 %`` from a ratio (0.742) or, with ``ratio=False``, from a value already in percent;
    ``signed=True`` writes ``+18.4 %`` for changes."""
    if is_missing(value):
        return MISSING
    v = float(value) * (100.0 if ratio else 1.0)
    if math.isinf(v):
        return MISSING
    text = _fixed(v, decimals)
    if signed and float(text.replace(",", "")) > 0:
        text = "+" + text
    return f"{text} %"


def days(value: Any) -> str:
    """Whole days with separators: ``12``, ``1,096`` (half a day rounds to the even day)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, dt.timedelta):
        value = value.total_seconds() / 86400
    return f"{round(float(value)):,d}"


def date(value: Any) -> str:
    """``2025-06-30`` from a date, datetime, pandas Timestamp or ISO text."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        return value[:10]
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    return str(value)


def inline(value: Any) -> str:
    """A dict or list as one readable line: ``a, b`` and ``key: value; key: value``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, Mapping):
        return "; ".join(f"{_key(k)}: {cell(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ == "ndarray":
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return ", ".join(cell(v) for v in items) or MISSING
    return str(value)


def _key(key: Any) -> str:
    text = str(key)
    return text.replace("_", " ") if text.isidentifier() else text


def cell(value: Any) -> str:
    """Any value as text by its type alone (no column context)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)) or type(value).__module__ == "numpy":
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, bool):
            return "yes" if value else "no"
        return number(value)
    if isinstance(value, dt.datetime) or type(value).__name__ == "Timestamp":
        has_time = (value.hour, value.minute, value.second) != (0, 0, 0)
        return value.strftime("%Y-%m-%d %H:%M") if has_time else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"{days(value)} days"
    return inline(value)


def wrap(value: Any, width: int = 60) -> str:
    """Long text broken into lines of at most `width` characters (never cut)."""
    text = cell(value)
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text
