"""Storage edge of monitors: `monitor_results`, `monitor_alerts`, episodes and alert delivery.

* `monitor_results`: one row per monitor and as-of date; a rerun of the same day deletes and
  rewrites that row (never a duplicate).
* Episodes: a triggered day continues the episode of the day before when the monitor was
  triggered on that day too (its stored `episode_start` is carried over), else it opens one.
* `monitor_alerts`: an alert is written (and delivered) on the first triggered day of an episode,
  and again while it lasts every `repeat_every_days` days after the episode's last alert. A
  rerun of a day that already has an alert writes no second alert and delivers nothing; alert
  rows are never deleted (they record what was sent).
* Delivery goes through the scheduler's notifier (`cdp_lib.reports.schedule.notify.notify_webhook`,
  the path failed report runs use) when a webhook URL is configured.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Callable, Iterable

import pandas as pd

from cdp_lib import schema
from cdp_lib.errors import InputError
from cdp_lib.monitors.definition import MAX_CONDITIONS, MonitorDefinition
from cdp_lib.monitors.evaluate import MonitorResult, evaluate_monitor
from cdp_lib.workspace import Workspace

RESULTS = {"monitor": "VARCHAR", "kind": "VARCHAR", "as_of": "DATE", "triggered": "BOOLEAN"}
for _i in range(1, MAX_CONDITIONS + 1):
    RESULTS.update({f"value_{_i}": "DOUBLE", f"previous_{_i}": "DOUBLE", f"change_{_i}": "DOUBLE",
                    f"threshold_{_i}": "DOUBLE", f"triggered_{_i}": "BOOLEAN"})
RESULTS.update({"episode_start": "DATE", "alerted": "BOOLEAN", "evaluated_at": "TIMESTAMPTZ"})
ALERTS = {
    "monitor": "VARCHAR", "kind": "VARCHAR", "as_of": "DATE", "episode_start": "DATE",
    "message": "VARCHAR", "conditions": "VARCHAR", "created_at": "TIMESTAMPTZ", "delivered": "BOOLEAN",
}
Notifier = Callable[[dict], bool]


def ensure_tables(ws: Workspace) -> None:
    ws.duckdb.execute(schema.create_table_sql("monitor_results", RESULTS))
    ws.duckdb.execute(schema.create_table_sql("monitor_alerts", ALERTS))


@dataclass(frozen=True)
class RunRecord:
    """What `run_monitors` did for one monitor."""

    result: MonitorResult
    episode_start: dt.date | None
    alerted: bool  # a new alert was written on this run
    delivered: bool | None  # None: no notifier configured or no new alert


def _row(ws: Workspace, sql: str, args: list) -> tuple | None:
    return ws.duckdb.execute(sql, args).fetchone()


def message(monitor: MonitorDefinition, result: MonitorResult) -> str:
    parts = []
    for cond, res in zip(monitor.conditions, result.conditions):
        shown = "n/a" if res.value is None else f"{res.value:.4g}"
        prev = "n/a" if res.previous is None else f"{res.previous:.4g}"
        parts.append(f"{cond.describe()} (now {shown}, before {prev})")
    joiner = " and " if monitor.match == "all" else " or "
    return f"{monitor.name} on {monitor.target}: {joiner.join(parts)}"


def record_result(ws: Workspace, monitor: MonitorDefinition, result: MonitorResult,
                  notify: Notifier | None = None) -> RunRecord:
    """Store the day's result (replacing a rerun), then write and deliver an alert when due."""
    day = result.as_of
    prev = _row(ws, "SELECT triggered, episode_start FROM monitor_results WHERE monitor = ? AND as_of = ?",
                [monitor.name, day - dt.timedelta(days=1)])
    episode = None
    if result.triggered:
        episode = prev[1] if prev and prev[0] and prev[1] is not None else day
    already = _row(ws, "SELECT count(*) FROM monitor_alerts WHERE monitor = ? AND as_of = ?", [monitor.name, day])[0]
    due = False
    if result.triggered and not already:
        last = _row(ws, "SELECT max(as_of) FROM monitor_alerts WHERE monitor = ? AND episode_start = ? AND as_of < ?",
                    [monitor.name, episode, day])[0]
        due = last is None or (monitor.repeat_every_days is not None
                               and (day - last).days >= monitor.repeat_every_days)
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    values = [monitor.name, monitor.kind, day, result.triggered]
    for i in range(MAX_CONDITIONS):
        if i < len(result.conditions):
            c = result.conditions[i]
            values += [c.value, c.previous, c.change, c.threshold, c.triggered]
        else:
            values += [None] * 5
    values += [episode, bool(due or already), now]
    delivered = None
    with ws.transaction():
        ws.duckdb.execute("DELETE FROM monitor_results WHERE monitor = ? AND as_of = ?", [monitor.name, day])
        ws.duckdb.execute(f"INSERT INTO monitor_results VALUES ({', '.join('?' for _ in values)})", values)
        if due:
            conditions = json.dumps([c.as_json() for c in result.conditions])
            ws.duckdb.execute("INSERT INTO monitor_alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              [monitor.name, monitor.kind, day, episode, message(monitor, result), conditions, now, None])
    if due and notify is not None:
        payload = {"event": "monitor_triggered", **result.as_json(), "target": monitor.target,
                   "episode_start": episode.isoformat(), "message": message(monitor, result)}
        delivered = bool(notify(payload))
        ws.duckdb.execute("UPDATE monitor_alerts SET delivered = ? WHERE monitor = ? AND as_of = ?",
                          [delivered, monitor.name, day])
    return RunRecord(result, episode, due, delivered)


def run_monitors(ws: Workspace, monitors: Iterable[MonitorDefinition], as_of: dt.date,
                 notify: Notifier | None = None, metrics=None) -> list[RunRecord]:
    """Evaluate every monitor once for `as_of`, store results and alerts. All monitors are
    evaluated before anything is written, so a broken definition stores nothing."""
    if ws.read_only:
        raise InputError("monitor run stores results: open the workspace for writing (not read-only)")
    monitors = list(monitors)
    results = [evaluate_monitor(ws, m, as_of, metrics) for m in monitors]
    ensure_tables(ws)
    return [record_result(ws, m, r, notify) for m, r in zip(monitors, results)]


def results_table(ws: Workspace, monitor: str | None = None) -> pd.DataFrame:
    """Stored results, newest first (empty when monitors never ran)."""
    if not ws.has_table("monitor_results"):
        return pd.DataFrame(columns=list(RESULTS))
    t = ws.table("monitor_results")
    if monitor:
        t = t.filter(t.monitor == monitor)
    return t.order_by([t.as_of.desc(), t.monitor]).execute()


def alerts_table(ws: Workspace, monitor: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Stored alerts, newest first (empty when none fired)."""
    if not ws.has_table("monitor_alerts"):
        return pd.DataFrame(columns=list(ALERTS))
    t = ws.table("monitor_alerts")
    if monitor:
        t = t.filter(t.monitor == monitor)
    t = t.order_by([t.as_of.desc(), t.monitor])
    if limit:
        t = t.limit(limit)
    return t.execute()
