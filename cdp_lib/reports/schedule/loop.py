"""The scheduler: run due jobs in dependency order with retries, under the job lock, forever or once.

A job is *due* when its latest slot at or before now is later than the slot of its last
recorded run (`cron`, `state`); a job that never ran is due at once. After the scheduler was
down over several slots a job therefore runs once, for the latest slot, not once per missed
slot. The per-job lock plus a re-check of the history after taking it keeps two schedulers
from running one slot twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

from cdp_lib.reports.record import new_run_id
from cdp_lib.reports.schedule import notify
from cdp_lib.reports.schedule.config import Job, Schedule, missing_files
from cdp_lib.reports.schedule.cron import UTC, is_due, latest_slot, next_slot
from cdp_lib.reports.schedule.jobs import Executor, Outcome, run_job_subprocess
from cdp_lib.reports.schedule.lock import job_lock
from cdp_lib.reports.schedule.state import State

log = logging.getLogger(__name__)
# The scheduler's log: every module of this package logs below it (configure_logging).
PACKAGE_LOGGER = "cdp_lib.reports.schedule"


@dataclasses.dataclass
class JobResult:
    job: str
    status: str  # succeeded | failed | skipped | busy | not-due
    slot: dt.datetime | None = None
    attempts: int = 0
    run_id: str | None = None
    error: str | None = None
    report: str | None = None


class Scheduler:
    """Runs due jobs of a `Schedule` against one workspace.

    `execute` runs one attempt (default: `cdp run` in a subprocess); `sleep` waits between
    retries and returns early when a stop was requested (tests pass fakes for both).
    """

    def __init__(
        self,
        schedule: Schedule,
        db: str,
        execute: Executor = run_job_subprocess,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.schedule = schedule
        self.settings = schedule.settings
        self.db = db
        self.execute = execute
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.state = State(self.settings.state_path)
        self.stop_event = threading.Event()

    # one cycle
    def run_due(self, now: dt.datetime | None = None) -> list[JobResult]:
        """Run every job due at `now` once, dependencies first; returns what happened to each."""
        now = now or self.clock()
        outcomes: dict[str, JobResult] = {}
        for job in self.schedule.ordered():
            if self.stop_event.is_set():
                break
            last = self.state.last_slot(job.name)
            if not is_due(job, now, last):
                continue
            slot = latest_slot(job, now)
            bad = [d for d in job.depends_on if d in outcomes and outcomes[d].status in {"failed", "skipped"}]
            waiting = [d for d in job.depends_on if d in outcomes and outcomes[d].status == "busy"]
            if bad:
                reason = f"skipped: dependency {', '.join(bad)} did not succeed in this cycle"
                log.warning("%s %s", job.name, reason)
                self.state.record(job=job.name, slot=slot, attempt=0, final=1, status="skipped",
                                  started_at=self.clock(), error=reason)
                outcomes[job.name] = JobResult(job.name, "skipped", slot, error=reason)
                continue
            if waiting:
                log.info("%s waits: dependency %s is running in another scheduler", job.name, ", ".join(waiting))
                outcomes[job.name] = JobResult(job.name, "busy", slot)
                continue
            with job_lock(self.settings.state_path, job.name) as held:
                if not held:
                    log.info("%s is being run by another scheduler; leaving it", job.name)
                    outcomes[job.name] = JobResult(job.name, "busy", slot)
                    continue
                # Another scheduler may have finished this slot between our check and the lock.
                if not is_due(job, now, self.state.last_slot(job.name)):
                    continue
                outcomes[job.name] = self._run_with_retries(job, slot)
        return list(outcomes.values())

    def _run_with_retries(self, job: Job, slot: dt.datetime) -> JobResult:
        backoff = job.retry_backoff_seconds if job.retry_backoff_seconds is not None else self.settings.retry_backoff_seconds
        attempts = job.retries + 1
        problems = missing_files(job)
        for attempt in range(1, attempts + 1):
            run_id = new_run_id()
            started = self.clock()
            log.info("%s: attempt %d/%d, run %s (slot %s)", job.name, attempt, attempts, run_id, slot.isoformat())
            if problems:
                outcome = Outcome("failed", "; ".join(problems))
            else:
                try:
                    outcome = self.execute(job, run_id, self.settings, self.db)
                except Exception as exc:  # a broken executor must not kill the scheduler
                    outcome = Outcome("failed", f"{type(exc).__name__}: {exc}")
            finished = self.clock()
            final = outcome.status == "succeeded" or attempt == attempts or self.stop_event.is_set() or bool(problems)
            self.state.record(
                job=job.name, slot=slot, attempt=attempt, final=int(final), run_id=run_id,
                status=outcome.status, started_at=started, finished_at=finished,
                duration_seconds=round((finished - started).total_seconds(), 3),
                error=outcome.error, report=outcome.report,
            )
            if outcome.status == "succeeded":
                log.info("%s succeeded (run %s)", job.name, run_id)
                return JobResult(job.name, "succeeded", slot, attempt, run_id, None, outcome.report)
            log.warning("%s attempt %d failed: %s", job.name, attempt, outcome.error)
            if final:
                break
            delay = backoff * 2 ** (attempt - 1)
            log.info("%s: retrying in %g s", job.name, delay)
            if self.stop_event.wait(delay):
                break
        result = JobResult(job.name, "failed", slot, attempt, run_id, outcome.error, outcome.report)
        self._notify(job, result)
        return result

    def _notify(self, job: Job, result: JobResult) -> None:
        url = self.settings.webhook_url
        if not url:
            return
        payload = {
            "event": "job_failed",
            "job": job.name,
            "notebook": job.notebook,
            "run_id": result.run_id,
            "error": result.error,
            "report": result.report,
            "attempts": result.attempts,
            "slot": result.slot.isoformat() if result.slot else None,
        }
        notify.notify_webhook(url, payload, timeout=self.settings.webhook_timeout_seconds,
                       secret_env=self.settings.webhook_secret_env, secret_file=self.settings.webhook_secret_file,
                       db=self.db, state_dir=self.settings.state_path)

    # the long-running loop
    def seconds_until_next(self, now: dt.datetime) -> float:
        nexts = [next_slot(j, now) for j in self.schedule.jobs if j.enabled]
        if not nexts:
            return self.settings.poll_seconds
        wait = (min(nexts) - now).total_seconds()
        return max(0.0, min(wait, self.settings.poll_seconds))

    def serve(self, install_signals: bool = True) -> None:
        """Run due jobs until SIGTERM/SIGINT; a running job is finished before stopping."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        log.info("scheduler started: %d job(s), workspace %s, reports in %s",
                 len(self.schedule.jobs), self.db, self.settings.reports_dir)
        now = self.clock()
        for job in self.schedule.ordered():
            log.info("  %-20s next %s", job.name, next_slot(job, now).isoformat())
        while not self.stop_event.is_set():
            self.run_due()
            self.stop_event.wait(self.seconds_until_next(self.clock()) + 0.5)
        log.info("scheduler stopped")

    def _on_signal(self, signum, frame) -> None:
        log.info("received %s: stopping after the running job", signal.Signals(signum).name)
        self.stop_event.set()


def configure_logging(log_file: str | os.PathLike, verbose: bool = False) -> None:
    """Scheduler logs to stdout and to `log_file` (called by the CLI, never on import)."""
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(log_file)):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
