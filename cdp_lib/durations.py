"""Durations written by people (`30m`, `12h`, `7d`, `2w`, `3mo`, `1y`), read with one grammar and
one unit table everywhere: funnel and attribution windows, KPI windows, segment windows and the
`in_last`/`in_next` property operators.

Grammar: a non-negative decimal number (``7``, ``1.5``) followed at once by a unit, surrounding
blanks ignored. Units: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w`` 7 days,
``mo`` 30 days, ``y`` 365 days (months and years are fixed lengths, as the segment windows
always counted them).

Segment windows and the date operators used to write months as ``m``; where a reader declares
that legacy (`legacy_months=True`), ``3m`` still means 3 x 30 days and warns with a
`DeprecatedSpellingWarning` asking for ``3mo``. Everywhere else ``m`` is minutes.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from typing import Any, Iterable

from cdp_lib.errors import DeprecatedSpellingWarning, InputError

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}
UNIT_NAMES = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks (7 days)",
              "mo": "months (30 days)", "y": "years (365 days)"}
DAY_UNITS = ("d", "w", "mo", "y")  # whole-day units: segment windows count whole days in these

_GRAMMAR = re.compile(r"^\s*(\d+\.?\d*|\.\d+)([a-z]+)\s*$")


def unit_days(unit: str) -> float:
    """Length of one `unit` in days (`'mo'` -> 30.0, `'h'` -> 1/24)."""
    return UNIT_SECONDS[unit] / 86400


def parse_span(text: Any, where: str = "duration", units: Iterable[str] | None = None,
               legacy_months: bool = False) -> tuple[float, str]:
    """`'3mo'` -> `(3.0, 'mo')`; `units` limits the units accepted (all of `UNIT_SECONDS` by default).

    With `legacy_months`, `'3m'` is read as `(3.0, 'mo')` and warns; `where` names the place in
    both the warning and the `InputError` raised for anything else.
    """
    allowed = tuple(units) if units is not None else tuple(UNIT_SECONDS)
    if isinstance(text, bool):
        match = None
    else:
        match = _GRAMMAR.match(str(text))
    if match is None or match.group(2) not in UNIT_SECONDS:
        raise InputError(f"{where}: {text!r} is not a duration; expected a number and a unit "
                         f"({', '.join(allowed)}), e.g. '7d'")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "m" and legacy_months:
        warnings.warn(
            f"{where}: {text!r} counts months as 'm' ({number:g} x 30 days); write "
            f"'{match.group(1)}mo' — 'm' is minutes everywhere else and will be here too",
            DeprecatedSpellingWarning, stacklevel=3,
        )
        unit = "mo"
    if unit not in allowed:
        listed = ", ".join(f"{u} ({UNIT_NAMES[u]})" for u in allowed)
        raise InputError(f"{where}: {text!r}: unit {unit!r} is not allowed here; expected one of {listed}")
    return number, unit


def parse_duration(text: Any, where: str = "duration", units: Iterable[str] | None = None,
                   legacy_months: bool = False) -> dt.timedelta:
    """`'30m'` -> 30 minutes, `'12h'`, `'7d'`, `'2w'`, `'3mo'` (90 days), `'1y'` -> a timedelta."""
    number, unit = parse_span(text, where, units, legacy_months)
    return dt.timedelta(seconds=number * UNIT_SECONDS[unit])
