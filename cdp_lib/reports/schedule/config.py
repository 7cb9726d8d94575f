"""The schedule file (`parameters/schedule.yaml`): jobs and settings, validated before anything runs."""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter

from cdp_lib.errors import InputError
from cdp_lib.reports.parameters import find_notebook
from cdp_lib.reports.run import REPORTS_DIR

DEFAULT_SCHEDULE = "parameters/schedule.yaml"


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

    reports_dir: str = REPORTS_DIR
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


def _check_keys(where: str, data: dict, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(sorted(allowed))})")


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
                close = difflib.get_close_matches(dep, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise InputError(f"{source}: job {job.name!r} depends on unknown job {dep!r}{hint}")
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
        find_notebook(job.notebook)
    except InputError:
        problems.append(f"notebook {job.notebook} not found")
    if job.parameters and not Path(job.parameters).is_file():
        problems.append(f"parameter file {job.parameters} not found")
    return problems
