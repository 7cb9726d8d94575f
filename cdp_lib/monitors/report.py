"""Parameters of notebooks/monitors.ipynb, validated before anything runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError
from cdp_lib.monitors.definition import MonitorDefinition, default_folder, load_monitors
from cdp_lib.params import Params


@dataclass(frozen=True)
class MonitorsParams(Params):
    """Validated parameters of the monitors report; build them with `monitors_params(...)`."""

    BUILDER: ClassVar[str] = "monitors_params"
    WHERE: ClassVar[str] = "monitors parameters"

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
    folder = folder or default_folder()
    return MonitorsParams(day, run, str(folder), schedule, history_days, load_monitors(folder, enabled_only=True))


def monitor_series(ws, params: MonitorsParams, metrics=None) -> dict:
    """Each monitor's day-by-day evaluation over the report's `history_days` (name -> frame)."""
    from cdp_lib.monitors.evaluate import evaluate_days

    return {name: evaluate_days(ws, m, params.start, params.as_of, metrics) for name, m in params.monitors.items()}


def latest_results(ws, params: MonitorsParams):
    """Stored results of the report's as-of date, one row per monitor."""
    from cdp_lib.monitors.store import results_table

    res = results_table(ws)
    if res.empty:
        return res
    res = res[pd.to_datetime(res["as_of"]).dt.date == params.as_of]
    cols = [c for c in ("monitor", "kind", "triggered", "value_1", "previous_1", "change_1", "threshold_1",
                        "value_2", "previous_2", "change_2", "threshold_2", "episode_start", "alerted") if c in res]
    return res[cols].reset_index(drop=True)
