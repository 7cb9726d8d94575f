"""The report scheduler: cron-timed `cdp run` jobs with retries, dependencies, a lock and a webhook.

Jobs are declared in `parameters/schedule.yaml`. Each job's slots are the times its cron
expression names in its own timezone. A job is *due* when its latest slot at or before now is
later than the slot of its last recorded run; a job that never ran is due at once. After the
scheduler was down over several slots a job therefore runs once, for the latest slot, not once
per missed slot. Run history lives in a small SQLite file next to the reports (never inside the
DuckDB workspace, whose single-writer lock the jobs need). A per-job `fcntl.flock` plus a
re-check of the history after taking it keeps two schedulers from running one slot twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter

from cdp_lib import local_db, runner
from cdp_lib.errors import InputError
from cdp_lib.keys import check_keys, suggest

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "parameters/schedule.yaml"
UTC = dt.timezone.utc


# -- configuration ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Job:
    """One scheduled report: a notebook, its parameter file and when to run it."""

    name: str
    notebook: str
    cron: str
    parameters: str | None = None
    timezone: str = "UTC"
    retries: int = 0
    retry_backoff_seconds: float | None = None  # None: the schedule-wide setting
    timeout_minutes: float = 60.0
    depends_on: tuple[str, ...] = ()
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class Settings:
    """Schedule-wide settings (the `settings:` block)."""

    reports_dir: str = runner.REPORTS_DIR
    state_dir: str | None = None  # default: <reports_dir>/.schedule
    log_file: str | None = None  # default: <state_dir>/scheduler.log
    webhook_url: str | None = None
    webhook_timeout_seconds: float = 10.0
    webhook_secret_env: str | None = "CDP_WEBHOOK_SECRET"  # signs the failure webhook (docs/activation.md)
    webhook_secret_file: str | None = None
    poll_seconds: float = 30.0
    retry_backoff_seconds: float = 60.0

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir) if self.state_dir else Path(self.reports_dir) / ".schedule"

    @property
    def log_path(self) -> Path:
        return Path(self.log_file) if self.log_file else self.state_path / "scheduler.log"


@dataclasses.dataclass(frozen=True)
class Schedule:
    settings: Settings
    jobs: tuple[Job, ...]

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise InputError(f"no job {name!r} in the schedule; jobs: {', '.join(j.name for j in self.jobs)}")

    def ordered(self) -> list[Job]:
        """Jobs in dependency order (dependencies first), otherwise in file order."""
        done: list[Job] = []
        names: set[str] = set()
        pending = list(self.jobs)
        while pending:
            for job in pending:
                if set(job.depends_on) <= names:
                    done.append(job)
                    names.add(job.name)
                    pending.remove(job)
                    break
            else:  # unreachable after load_schedule's cycle check
                raise InputError(f"dependency cycle among jobs {', '.join(j.name for j in pending)}")
        return done


_check_keys = check_keys  # cdp_lib.keys: the one unknown-key check


def _number(where: str, value, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise InputError(f"{where} must be a number >= {minimum}, got {value!r}")
    return value


def parse_schedule(data: dict, source: str = "schedule") -> Schedule:
    """Validate a schedule mapping (as read from YAML); raises InputError naming the bad key."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping with 'settings' and 'jobs'")
    _check_keys(source, data, {"settings", "jobs"})
    raw_settings = data.get("settings") or {}
    setting_fields = {f.name for f in dataclasses.fields(Settings)}
    _check_keys(f"{source}: settings", raw_settings, setting_fields)
    for key in ("webhook_timeout_seconds", "poll_seconds", "retry_backoff_seconds"):
        if key in raw_settings:
            _number(f"{source}: settings.{key}", raw_settings[key])
    settings = Settings(**raw_settings)
    job_fields = {f.name for f in dataclasses.fields(Job)}
    jobs: list[Job] = []
    raw_jobs = data.get("jobs") or []
    if not isinstance(raw_jobs, list):
        raise InputError(f"{source}: 'jobs' must be a list of job mappings")
    for i, raw in enumerate(raw_jobs):
        where = f"{source}: jobs[{i}]"
        if not isinstance(raw, dict):
            raise InputError(f"{where} must be a mapping")
        _check_keys(where, raw, job_fields)
        for key in ("name", "notebook", "cron"):
            if not raw.get(key):
                raise InputError(f"{where}: missing required key {key!r}")
        where = f"{source}: job {raw['name']!r}"
        if not croniter.is_valid(str(raw["cron"])):
            raise InputError(f"{where}: cron {raw['cron']!r} is not a valid cron expression (e.g. '0 6 * * *')")
        try:
            ZoneInfo(str(raw.get("timezone", "UTC")))
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(f"{where}: unknown timezone {raw.get('timezone')!r} (use an IANA name like 'Europe/Berlin')") from None
        retries = raw.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InputError(f"{where}: retries must be a whole number >= 0, got {retries!r}")
        _number(f"{where}: timeout_minutes", raw.get("timeout_minutes", 60.0), minimum=0.001)
        if raw.get("retry_backoff_seconds") is not None:
            _number(f"{where}: retry_backoff_seconds", raw["retry_backoff_seconds"])
        deps = raw.get("depends_on") or []
        deps = [deps] if isinstance(deps, str) else list(deps)
        jobs.append(Job(**{**raw, "cron": str(raw["cron"]), "depends_on": tuple(deps)}))
    names = [j.name for j in jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{source}: job names must be unique; repeated: {', '.join(dupes)}")
    for job in jobs:
        for dep in job.depends_on:
            if dep not in names:
                raise InputError(f"{source}: job {job.name!r} depends on unknown job {dep!r}{suggest(dep, names)}")
    _check_cycles(jobs, source)
    return Schedule(settings, tuple(jobs))


def _check_cycles(jobs: list[Job], source: str) -> None:
    deps = {j.name: set(j.depends_on) for j in jobs}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise InputError(f"{source}: dependency cycle {' -> '.join(cycle)}")
        state[name] = 1
        for dep in sorted(deps[name]):
            visit(dep, path + [name])
        state[name] = 2

    for job in jobs:
        visit(job.name, [])


def load_schedule(path: str | os.PathLike = DEFAULT_SCHEDULE) -> Schedule:
    """Read and validate a schedule file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"schedule file {path} not found; see docs/reports.md for its format")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"schedule file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_schedule(data or {}, source=str(path))


def missing_files(job: Job) -> list[str]:
    """The job's notebook or parameter file when it does not exist (checked at run time too)."""
    problems = []
    try:
        runner.find_notebook(job.notebook)
    except InputError:
        problems.append(f"notebook {job.notebook} not found")
    if job.parameters and not Path(job.parameters).is_file():
        problems.append(f"parameter file {job.parameters} not found")
    return problems


# -- due times -------------------------------------------------------------------------------------
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


# -- state -------------------------------------------------------------------------------------------
class State:
    """Run history in SQLite (`<state_dir>/state.sqlite`): one row per attempt or skip."""

    def __init__(self, state_dir: str | os.PathLike):
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "state.sqlite"
        with self._connect() as con:
            con.execute(
                """CREATE TABLE IF NOT EXISTS runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    job TEXT NOT NULL, slot TEXT NOT NULL, attempt INTEGER NOT NULL,
                    final INTEGER NOT NULL, run_id TEXT, status TEXT NOT NULL,
                    started_at TEXT, finished_at TEXT, duration_seconds REAL,
                    error TEXT, report TEXT, scheduler TEXT)"""
            )

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return local_db.transaction(self.path)

    def last_slot(self, job: str) -> dt.datetime | None:
        with self._connect() as con:
            row = con.execute("SELECT max(slot) FROM runs WHERE job = ? AND final = 1", (job,)).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def record(self, **row) -> None:
        row.setdefault("scheduler", f"{os.uname().nodename}:{os.getpid()}")
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        values = [v.isoformat() if isinstance(v, dt.datetime) else v for v in row.values()]
        with self._connect() as con:
            con.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", values)

    def history(self, job: str | None = None, limit: int = 50) -> list[dict]:
        query = "SELECT * FROM runs"
        args: list = []
        if job:
            query += " WHERE job = ?"
            args.append(job)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(query, args)]

    def last_final(self, job: str) -> dict | None:
        rows = [r for r in self.history(job, limit=20) if r["final"]]
        return rows[0] if rows else None


@contextlib.contextmanager
def job_lock(state_dir: str | os.PathLike, job: str) -> Iterator[bool]:
    """Try to take the job's lock without waiting; yields whether this process holds it."""
    locks = Path(state_dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{job}.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- executing one attempt ---------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """The result of one attempt: status 'succeeded' or 'failed'."""

    status: str
    error: str | None = None
    report: str | None = None


Executor = Callable[[Job, str, Settings, str], Outcome]


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_job_subprocess(job: Job, run_id: str, settings: Settings, db: str) -> Outcome:
    """Run `cdp run` for the job in its own process group, killed when it exceeds its timeout.

    Its own session also keeps a Ctrl-C meant for the scheduler from killing the running job.
    """
    cmd = [sys.executable, "-m", "cdp_lib.cli", "--db", db, "run", job.notebook,
           "--reports-dir", settings.reports_dir, "--run-id", run_id, "--job", job.name]
    if job.parameters:
        cmd += ["-f", job.parameters]
    run_dir = Path(settings.reports_dir) / Path(job.notebook).stem / run_id
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    timeout = job.timeout_minutes * 60
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        error = f"timed out after {job.timeout_minutes:g} min"
        if (run_dir / "run.json").exists():
            runner.mark_failed(run_dir, error)
        return Outcome("failed", error, _report_path(run_dir))
    for line in output.splitlines():
        if line.strip() and "Kernel is running over TCP" not in line:
            log.debug("[%s] %s", job.name, line)
    record_path = run_dir / "run.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("status") == "running":  # the runner itself died
            record = runner.mark_failed(run_dir, f"runner exited with code {proc.returncode}")
        return Outcome(record["status"], record.get("error"), _report_path(run_dir))
    # No run folder: rejected before running (bad parameters, missing notebook).
    lines = [l for l in output.splitlines() if l.strip()]
    return Outcome("failed", lines[-1] if lines else f"cdp run exited with code {proc.returncode}", None)


def _report_path(run_dir: Path) -> str | None:
    html = run_dir / f"{run_dir.parent.name}.html"
    if html.exists():
        return str(html.resolve())
    return str(run_dir.resolve()) if run_dir.exists() else None


# -- notification ------------------------------------------------------------------------------------
def notify_webhook(url: str, payload: dict, timeout: float = 10.0, *, secret_env: str | None = "CDP_WEBHOOK_SECRET",
                   secret_file: str | None = None, db: str | os.PathLike | None = None,
                   state_dir: str | os.PathLike | None = None) -> bool:
    """POST `payload` as JSON through the activation outbox: signed, retried, never lost.

    Signed with the secret in `$secret_env` (or `secret_file`) like every activation webhook
    (docs/activation.md); a few attempts are made now, and a notification still undelivered stays
    pending for `cdp activation run|retry`. Failures are logged, never raised (a dead hook must
    not stop jobs). Returns whether the POST was acknowledged with a 2xx.
    """
    from cdp_lib.activation.notify import notify

    ok, error = notify(url, payload, timeout=timeout, secret_env=secret_env, secret_file=secret_file,
                       db=db, state_dir=state_dir, source="scheduler")
    if not ok:
        log.warning("webhook %s failed: %s", url, error)
    return ok


# -- the scheduler -------------------------------------------------------------------------------------
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
            run_id = runner.new_run_id()
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
        notify_webhook(url, payload, timeout=self.settings.webhook_timeout_seconds,
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
    logger = logging.getLogger(__name__)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(log_file)):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
