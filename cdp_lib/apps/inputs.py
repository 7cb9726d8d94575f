"""Checks on what a person picked in an app, made before anything is computed (no widgets here).

Each check raises `FieldError`, an `InputError` that names the control (`field`) it is about, so
`App.refresh` can show the message next to that control and clear the views it would make stale.
"""

from __future__ import annotations

import datetime as dt

from cdp_lib.dates import today as utc_today
from cdp_lib.errors import InputError


class FieldError(InputError):
    """An input a person picked is not usable; `field` names the control (e.g. "start", "end")."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check_date_range(start: dt.date | None, end: dt.date | None, *, start_label: str = "From",
                     end_label: str = "To", strict: bool = False, today: dt.date | None = None
                     ) -> tuple[dt.date, dt.date]:
    """`(start, end)` when both are picked, `end` is not after today (UTC) and `start` is not after
    `end` (with `strict`, strictly before it); otherwise a `FieldError` in plain words.

    >>> check_date_range(dt.date(2025, 3, 1), dt.date(2025, 3, 7), today=dt.date(2025, 3, 7))
    (datetime.date(2025, 3, 1), datetime.date(2025, 3, 7))
    """
    today = today or utc_today()
    if start is None:
        raise FieldError("start", f"{start_label}: pick a date.")
    if end is None:
        raise FieldError("end", f"{end_label}: pick a date.")
    if end > today:
        raise FieldError("end", f"{end_label} {end:%Y-%m-%d} is in the future: pick {today:%Y-%m-%d} (today, UTC) "
                                "or an earlier day.")
    if start > end or (strict and start == end):
        word = "on or after" if strict and start == end else "after"
        raise FieldError("start", f"{start_label} {start:%Y-%m-%d} is {word} {end_label} {end:%Y-%m-%d}: "
                                  f"pick a {start_label.lower()} date before the {end_label.lower()} date.")
    return start, end
