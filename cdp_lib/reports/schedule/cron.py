"""Due times: a job's cron slots in its own timezone, once per wall-clock time across DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from croniter import croniter

from cdp_lib.reports.schedule.config import Job

UTC = dt.timezone.utc


def _first_occurrence(slot: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """When clocks go back a wall-clock time happens twice; a slot counts at its first occurrence."""
    first = slot.replace(tzinfo=None).replace(tzinfo=tz, fold=0)
    return min(first.astimezone(UTC), slot.astimezone(UTC))


def latest_slot(job: Job, now: dt.datetime) -> dt.datetime:
    """The job's most recent scheduled time at or before `now`, in UTC.

    A slot repeated by a DST fall-back counts once (its first occurrence); a slot that does not
    exist because clocks went forward falls on the first time after the gap (croniter's rule).
    """
    tz = ZoneInfo(job.timezone)
    local_now = now.astimezone(tz)
    it = croniter(job.cron, local_now + dt.timedelta(microseconds=1))
    slot = it.get_prev(dt.datetime)
    return _first_occurrence(slot, tz)


def next_slot(job: Job, after: dt.datetime) -> dt.datetime:
    """The job's first scheduled time strictly after `after`, in UTC (repeated wall times once)."""
    tz = ZoneInfo(job.timezone)
    it = croniter(job.cron, after.astimezone(tz))
    while True:
        slot = it.get_next(dt.datetime)
        first = _first_occurrence(slot, tz)
        if first == slot.astimezone(UTC) and first > after.astimezone(UTC):
            return first


def is_due(job: Job, now: dt.datetime, last_slot: dt.datetime | None) -> bool:
    """Due when the latest slot is newer than the last recorded one; never-run jobs are due."""
    if not job.enabled:
        return False
    return last_slot is None or latest_slot(job, now) > last_slot
