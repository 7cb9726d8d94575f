"""Dates given by people (YAML, CLI flags, notebook parameters), read one way everywhere."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cdp_lib.errors import InputError


def parse_date(value: Any, where: str) -> dt.date | None:
    """`None`/'' -> None; a date, datetime or 'YYYY-MM-DD' -> a date; else an InputError at `where`."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a date; expected YYYY-MM-DD") from None
