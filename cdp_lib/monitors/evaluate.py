"""Evaluating a monitor on a day: each condition's value, previous value, change and outcome.

For an as-of date D and a condition over `period_days` N:

* the period is the N UTC days D-N+1 .. D, the previous period the N days before it;
* `sum` adds the daily values, `average` divides that sum by N (days without events count as 0);
  a rate is pooled: numerator events / denominator events over the period (null when the
  denominator is 0); a `members` sum is member-days;
* `compare: value` tests `value OP threshold`; `relative_change` is 100 * (value - previous) /
  previous for `up` and 100 * (previous - value) / previous for `down` (null when previous is 0
  or null); `absolute_change` is value - previous (up) or previous - value (down);
* a null value or change never triggers; the monitor triggers when all (`match: all`) or any
  (`match: any`) of its conditions do.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass

import pandas as pd

from cdp_lib.errors import CdpError
from cdp_lib.monitors.definition import RATE_MEASURES, Condition, MonitorDefinition
from cdp_lib.monitors.series import RATES, daily_series
from cdp_lib.workspace import Workspace

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class ConditionResult:
    value: float | None
    previous: float | None
    change: float | None  # None for compare: value
    threshold: float
    triggered: bool

    def as_json(self) -> dict:
        return {"value": self.value, "previous": self.previous, "threshold": self.threshold}


@dataclass(frozen=True)
class MonitorResult:
    monitor: str
    kind: str
    as_of: dt.date
    conditions: tuple[ConditionResult, ...]
    triggered: bool

    def as_json(self) -> dict:
        """The `cdp monitor run --json` line."""
        return {"monitor": self.monitor, "kind": self.kind, "as_of": self.as_of.isoformat(),
                "triggered": self.triggered, "conditions": [c.as_json() for c in self.conditions]}


def period_value(series: pd.DataFrame, cond: Condition, last: dt.date) -> float | None:
    """The condition's aggregate over the `period_days` days ending on `last`."""
    first = last - dt.timedelta(days=cond.period_days - 1)
    window = series.loc[(series.index >= first) & (series.index <= last)]
    if cond.measure in RATE_MEASURES:
        num, den = RATES[cond.measure]
        total = float(window[den].sum())
        return None if total == 0 else float(window[num].sum()) / total
    total = float(window[cond.measure].sum())
    return total / cond.period_days if cond.aggregate == "average" else total


def check_condition(cond: Condition, value: float | None, previous: float | None) -> ConditionResult:
    """Apply the comparison rule to a value and its previous-period value."""
    change = None
    if cond.compare == "value":
        tested = value
    else:
        if value is None or previous is None:
            tested = None
        else:
            diff = value - previous if cond.direction == "up" else previous - value
            if cond.compare == "absolute_change":
                tested = diff
            else:
                tested = None if previous == 0 else 100.0 * diff / previous
        change = tested
    hit = tested is not None and _OPS[cond.op](tested, cond.threshold)
    return ConditionResult(value, previous, change, cond.threshold, bool(hit))


def combine(match: str, hits: list[bool]) -> bool:
    return all(hits) if match == "all" else any(hits)


def evaluate_series(monitor: MonitorDefinition, series: pd.DataFrame, day: dt.date) -> MonitorResult:
    """Evaluate on `day` from a daily series that covers the day's periods and previous periods."""
    results = []
    for cond in monitor.conditions:
        value = period_value(series, cond, day)
        previous = period_value(series, cond, day - dt.timedelta(days=cond.period_days))
        results.append(check_condition(cond, value, previous))
    return MonitorResult(monitor.name, monitor.kind, day, tuple(results), combine(monitor.match, [r.triggered for r in results]))


def _series(ws: Workspace, monitor: MonitorDefinition, first: dt.date, last: dt.date, metrics=None) -> pd.DataFrame:
    try:
        return daily_series(ws, monitor, first, last, metrics)
    except CdpError as exc:
        raise type(exc)(f"{monitor.source.where((monitor_target_key(monitor),))}: {exc}") from None


def monitor_target_key(monitor: MonitorDefinition) -> str:
    return {"metric": "metric", "segment": "segment", "flow": "flow_id"}[monitor.kind]


def evaluate_monitor(ws: Workspace, monitor: MonitorDefinition, as_of: dt.date, metrics=None) -> MonitorResult:
    """Evaluate one monitor for the as-of date."""
    first = as_of - dt.timedelta(days=2 * monitor.longest_period - 1)
    return evaluate_series(monitor, _series(ws, monitor, first, as_of, metrics), as_of)


def evaluate_days(ws: Workspace, monitor: MonitorDefinition, start: dt.date, end: dt.date, metrics=None) -> pd.DataFrame:
    """One row per day from `start` to `end`: each condition's value, previous, change, threshold
    and triggered, and the monitor's `triggered` (for the report's series charts)."""
    first = start - dt.timedelta(days=2 * monitor.longest_period - 1)
    series = _series(ws, monitor, first, end, metrics)
    rows = []
    for day in pd.date_range(start, end, freq="D").date:
        res = evaluate_series(monitor, series, day)
        row = {"monitor": monitor.name, "as_of": day, "triggered": res.triggered}
        for i, c in enumerate(res.conditions, start=1):
            row.update({f"value_{i}": c.value, f"previous_{i}": c.previous, f"change_{i}": c.change,
                        f"threshold_{i}": c.threshold, f"triggered_{i}": c.triggered})
        rows.append(row)
    return pd.DataFrame(rows)
