"""Parameters of notebooks/monitors.ipynb, validated before anything runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError
from cdp_lib.monitors.definition import DEFAULT_FOLDER, MonitorDefinition, load_monitors


@dataclass(frozen=True)
class MonitorsParams:
    as_of: dt.date
    run: bool
    folder: str
    schedule: str | None
    history_days: int
    monitors: dict[str, MonitorDefinition]

    @property
    def start(self) -> dt.date:
        return self.as_of - dt.timedelta(days=self.history_days - 1)


def monitors_params(as_of: Any = None, run: bool = True, folder: str | None = None, schedule: str | None = None,
                    history_days: int = 60) -> MonitorsParams:
    """Check the report's parameters; `as_of` None means today (UTC)."""
    day = parse_date(as_of, "as_of") or dt.datetime.now(dt.timezone.utc).date()
    if not isinstance(run, bool):
        raise InputError(f"run: expected true or false, got {run!r}")
    if isinstance(history_days, bool) or not isinstance(history_days, int) or not 1 <= history_days <= 366:
        raise InputError(f"history_days: expected a whole number from 1 to 366, got {history_days!r}")
    folder = folder or DEFAULT_FOLDER
    return MonitorsParams(day, run, str(folder), schedule, history_days, load_monitors(folder, enabled_only=True))
