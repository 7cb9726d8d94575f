"""Comparison periods for a range of whole UTC days `[start, end]` (both included).

* ``previous``: the equal-length period just before (7 days ending the day before `start`);
* ``last_year``: the same calendar days one year earlier; 29 February becomes 28 February, so
  `2024-02-29 .. 2024-03-06` compares with `2023-02-28 .. 2023-03-06` (one day shorter).
"""

from __future__ import annotations

import datetime as dt

from cdp_lib.errors import InputError

COMPARISONS = {"previous": "previous period", "last_year": "same period last year"}


def year_earlier(day: dt.date) -> dt.date:
    """The same calendar day a year earlier (29 February -> 28 February).

    >>> year_earlier(dt.date(2024, 2, 29))
    datetime.date(2023, 2, 28)
    """
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def comparison_period(start: dt.date, end: dt.date, kind: str = "previous") -> tuple[dt.date, dt.date]:
    """First and last day of the comparison of `[start, end]` (see the module docstring).

    >>> comparison_period(dt.date(2025, 3, 8), dt.date(2025, 3, 14))
    (datetime.date(2025, 3, 1), datetime.date(2025, 3, 7))
    >>> comparison_period(dt.date(2025, 3, 8), dt.date(2025, 3, 14), "last_year")
    (datetime.date(2024, 3, 8), datetime.date(2024, 3, 14))
    """
    if kind not in COMPARISONS:
        raise InputError(f"comparison: expected one of {sorted(COMPARISONS)}, got {kind!r}")
    if end < start:
        raise InputError(f"period end {end} is before its start {start}; swap them")
    if kind == "previous":
        days = (end - start).days + 1
        return start - dt.timedelta(days=days), start - dt.timedelta(days=1)
    return year_earlier(start), year_earlier(end)
