"""Dates given by people (YAML, CLI flags, notebook parameters), read one way everywhere, and
the one as-of rule every analysis uses.

The as-of rule: an as-of date means the **end of that day, UTC** (23:59:59.999999); no date
means today (UTC). Segments, samples, exports, lookups, the segment builder, RFM, CLV, KPI and
audience performance all take their "now" from `as_of_day` / `as_of_end`, so the same audience
gives the same count whichever path computes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cdp_lib.errors import InputError


def parse_date(value: Any, where: str) -> dt.date | None:
    """`None`/'' -> None; a date, a datetime or an ISO text (`'YYYY-MM-DD'`, or a timestamp such
    as `'2025-06-30T10:00:00+02:00'`) -> a date; else an InputError at `where`.

    A datetime with a time zone is first converted to UTC (the as-of rule); a naive one is
    taken as UTC. The one date reader of the workbench: YAML, CLI flags, notebook parameters.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _utc_date(value)
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return _utc_date(dt.datetime.fromisoformat(text))
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a date; expected YYYY-MM-DD") from None


def _utc_date(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.date()


def today() -> dt.date:
    """Today's date in UTC (never the machine's local date)."""
    return dt.datetime.now(dt.timezone.utc).date()


def as_of_end(as_of: Any = None):
    """The as-of moment (a UTC `pandas.Timestamp`): the end of the as-of date, today when none.

    A timestamp with a time zone is first converted to UTC; its day is the as-of date.
    """
    import pandas as pd  # not at module top: command modules import this one

    day = pd.Timestamp(today() if as_of is None else as_of)
    if day.tzinfo is not None:
        day = day.tz_convert("UTC").tz_localize(None)
    return (day.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)).tz_localize("UTC")


def as_of_day(as_of: Any = None) -> dt.date:
    """The as-of date itself (today, UTC, when none is given)."""
    return as_of_end(as_of).date()


# -- recurring shopping periods, relative to an as-of date -------------------------------------
HOLIDAYS = ("black_friday_cyber_monday",)


def us_thanksgiving(year: int) -> dt.date:
    """The fourth Thursday of November."""
    nov1 = dt.date(year, 11, 1)
    return nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7 + 21)


def last_holiday(name: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day (both included) of the most recent occurrence of a holiday period that
    ended on or before `day`. `black_friday_cyber_monday`: the Friday after US Thanksgiving to
    the Monday after it (4 days)."""
    if name not in HOLIDAYS:
        raise InputError(f"unknown holiday {name!r}; expected one of {list(HOLIDAYS)}")
    for year in (day.year, day.year - 1):
        first = us_thanksgiving(year) + dt.timedelta(days=1)
        last = first + dt.timedelta(days=3)
        if last <= day:
            return first, last
    raise AssertionError("unreachable: last year's period always ended before today")
