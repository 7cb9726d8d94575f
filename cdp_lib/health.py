"""Data health of a workspace: table sizes, freshness of the newest event, quarantine, daily volume."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import parse_date
from cdp_lib.errors import DataError, InputError
from cdp_lib.params import Params
from cdp_lib.prerequisites import as_of_end
from cdp_lib.workspace import Workspace


@dataclasses.dataclass(frozen=True)
class HealthParams(Params):
    """Validated parameters of the data-health report."""

    WHERE: ClassVar[str] = "data-health parameters"

    as_of: str | None = None
    days: int = 30
    max_staleness_hours: float = 48.0
    fail_on_stale: bool = False

    def __post_init__(self):
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise InputError(f"days must be a whole number of days >= 1, got {self.days!r}")
        if isinstance(self.max_staleness_hours, bool) or not isinstance(self.max_staleness_hours, (int, float)) \
                or self.max_staleness_hours <= 0:
            raise InputError(f"max_staleness_hours must be a positive number, got {self.max_staleness_hours!r}")
        if self.as_of is not None:
            try:
                parse_date(self.as_of, "as_of")
            except InputError:
                raise InputError(f"as_of must be an ISO date like 2025-03-31 or None, got {self.as_of!r}") from None


def table_sizes(ws: Workspace) -> pd.DataFrame:
    """Rows per workspace table (canonical, bookkeeping and analysis results), by name."""
    counts = ws.fingerprint()["tables"]
    return pd.DataFrame({"table": list(counts), "rows": list(counts.values())})


def freshness(ws: Workspace, as_of: str | None = None, max_staleness_hours: float = 48.0) -> dict:
    """How old the newest event is at the as-of moment (end of the as-of date, or now).

    Returns `newest_event` (None when there are no events), `as_of` (the moment), `hours_old`
    and `fresh` (newest event at most `max_staleness_hours` old; False without events).
    Events stamped after the as-of moment are ignored.
    """
    end = as_of_end(as_of)
    ev = ws.events
    newest = ev.filter(ev.timestamp <= end).timestamp.max().execute()
    if newest is None or pd.isna(newest):
        return {"newest_event": None, "as_of": end, "hours_old": None, "fresh": False}
    newest = pd.Timestamp(newest)
    newest = newest.tz_localize("UTC") if newest.tzinfo is None else newest.tz_convert("UTC")
    hours = (end - newest) / pd.Timedelta(hours=1)
    return {"newest_event": newest, "as_of": end, "hours_old": round(float(hours), 2),
            "fresh": hours <= max_staleness_hours}


def require_fresh(status: dict, max_staleness_hours: float) -> None:
    """Raise `DataError` for stale data, so a scheduled health run fails and notifies."""
    if status["fresh"]:
        return
    if status["newest_event"] is None:
        raise DataError("the workspace has no events up to the as-of date; load events with 'cdp ingest events'")
    raise DataError(
        f"newest event is {status['hours_old']:.1f} hours old at {status['as_of']:%Y-%m-%d %H:%M} UTC, "
        f"more than max_staleness_hours={max_staleness_hours:g}; check the ingest job"
    )


def quarantine_table(ws: Workspace) -> ir.Table:
    """Quarantined input rows per source table and reason, with the latest time, most first."""
    if not ws.has_table("quarantine"):
        return ibis.memtable(
            {"table_name": [], "reason": [], "rows": [], "latest": []},
            schema={"table_name": "string", "reason": "string", "rows": "int64", "latest": "timestamp('UTC')"},
        )
    q = ws.table("quarantine")
    return (
        q.group_by(["table_name", "reason"])
        .agg(rows=q.count(), latest=q.quarantined_at.max())
        .order_by([ibis.desc("rows"), "table_name", "reason"])
    )


def events_per_day_table(ws: Workspace, days: int = 30, as_of: str | None = None) -> ir.Table:
    """Events per UTC day and metric over the `days` days ending on the as-of date (inclusive).

    Days without events are absent (the chart shows them as gaps at zero).
    """
    end = as_of_end(as_of)
    start = (end.normalize() - pd.Timedelta(days=days - 1)).to_pydatetime()
    ev = ws.events
    recent = ev.filter((ev.timestamp >= start) & (ev.timestamp <= end.to_pydatetime()))
    dated = recent.mutate(day=recent.timestamp.date())
    return dated.group_by(["day", "metric"]).agg(events=dated.count()).order_by(["day", "metric"])


def daily_totals(per_day: pd.DataFrame, days: int, as_of: str | None = None) -> pd.DataFrame:
    """Events per day (all metrics), every day of the window present (0 when none): for display."""
    end = as_of_end(as_of).normalize().tz_localize(None)
    index = pd.date_range(end - pd.Timedelta(days=days - 1), end, freq="D").date
    totals = per_day.groupby("day")["events"].sum() if len(per_day) else pd.Series(dtype="int64")
    totals.index = [pd.Timestamp(d).date() for d in totals.index]
    out = totals.reindex(index, fill_value=0).rename_axis("day").reset_index(name="events")
    out["events"] = out["events"].astype("int64")
    return out


def summary(ws: Workspace, params: HealthParams) -> pd.DataFrame:
    """One row of headline figures: profiles, events, newest event, hours old, fresh, quarantined."""
    sizes = ws.fingerprint()["tables"]
    status = freshness(ws, params.as_of, params.max_staleness_hours)
    return pd.DataFrame([{
        "profiles": sizes.get("profiles", 0),
        "events": sizes.get("events", 0),
        "catalog": sizes.get("catalog", 0),
        "newest_event": status["newest_event"],
        "as_of": status["as_of"],
        "hours_old": status["hours_old"],
        "fresh": status["fresh"],
        "quarantined": sizes.get("quarantine", 0),
    }])
