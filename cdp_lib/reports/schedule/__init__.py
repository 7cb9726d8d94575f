"""The report scheduler: cron-timed `cdp run` jobs with retries, dependencies, a lock and a webhook.

Jobs are declared in `parameters/schedule.yaml` (`config`). Each job's slots are the times its
cron expression names in its own timezone (`cron`). Run history lives in a small SQLite file
next to the reports (`state`); a per-job `flock` (`lock`) keeps two schedulers from running one
slot twice; each attempt is `cdp run` in a subprocess (`jobs`); a job that gave up is announced
by webhook (`notify`); `loop` holds the `Scheduler` itself. The scheduler uses the runner
(`cdp_lib.reports.run`); the runner never imports the scheduler.
"""

from cdp_lib.reports.schedule.config import (
    DEFAULT_SCHEDULE, Job, Schedule, Settings, load_schedule, missing_files, parse_schedule,
)
from cdp_lib.reports.schedule.cron import UTC, is_due, latest_slot, next_slot
from cdp_lib.reports.schedule.jobs import Executor, Outcome, run_job_subprocess
from cdp_lib.reports.schedule.lock import job_lock
from cdp_lib.reports.schedule.loop import JobResult, Scheduler, configure_logging
from cdp_lib.reports.schedule.notify import notify_webhook, schedule_notifier
from cdp_lib.reports.schedule.state import State

__all__ = [
    "DEFAULT_SCHEDULE", "Executor", "Job", "JobResult", "Outcome", "Schedule", "Scheduler", "Settings", "State",
    "UTC", "configure_logging", "is_due", "job_lock", "latest_slot", "load_schedule", "missing_files",
    "next_slot", "notify_webhook", "parse_schedule", "schedule_notifier", "run_job_subprocess",
]
