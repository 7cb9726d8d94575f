"""`cdp schedule run|run-due|list|history`: the report scheduler."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import click

from cdp_lib.commands._base import Context, pass_context

# `cdp_lib.reports.schedule.DEFAULT_SCHEDULE`, spelled here so that building the option does not
# import the scheduler at start-up; tests/test_cli_startup.py checks the two agree.
DEFAULT_SCHEDULE = "parameters/schedule.yaml"

schedule_file = click.option(
    "--schedule", "schedule_path", default=DEFAULT_SCHEDULE, show_default=True,
    type=click.Path(dir_okay=False), help="Schedule file.",
)


@click.group()
def schedule() -> None:
    """Run notebooks on cron schedules (parameters/schedule.yaml); see docs/reports.md."""


@schedule.command("run")
@schedule_file
@click.option("-v", "--verbose", is_flag=True, help="Also log each job's own output.")
@pass_context
def run_forever(ctx: Context, schedule_path: str, verbose: bool) -> None:
    """Keep running due jobs in the foreground until SIGTERM/Ctrl-C (finishes the running job).

    A job missed while the scheduler was down runs once on start, not once per missed slot.
    """
    from cdp_lib.reports import schedule as sched

    config = sched.load_schedule(schedule_path)
    sched.configure_logging(config.settings.log_path, verbose)
    sched.Scheduler(config, ctx.db).serve()


@schedule.command("run-due")
@schedule_file
@click.option("-v", "--verbose", is_flag=True, help="Also log each job's own output.")
@pass_context
def run_due(ctx: Context, schedule_path: str, verbose: bool) -> None:
    """Run the jobs due now once and exit (for system cron). Exit code 1 if a job failed."""
    from cdp_lib.reports import schedule as sched

    config = sched.load_schedule(schedule_path)
    sched.configure_logging(config.settings.log_path, verbose)
    results = sched.Scheduler(config, ctx.db).run_due()
    if not results:
        click.echo("nothing due")
    for r in results:
        extra = f"  {r.error}" if r.error else ""
        click.echo(f"{r.job:<22} {r.status:<10} attempts={r.attempts}{extra}")
    failed = [r.job for r in results if r.status == "failed"]
    if failed:
        raise JobsFailed(f"failed: {', '.join(failed)}")


class JobsFailed(click.ClickException):
    exit_code = 1


@schedule.command("list")
@schedule_file
def list_jobs(schedule_path: str) -> None:
    """Each job with its cron, timezone, next run time and last result."""
    from cdp_lib.reports import schedule as sched

    config = sched.load_schedule(schedule_path)
    state = sched.State(config.settings.state_path)
    now = dt.datetime.now(dt.timezone.utc)
    click.echo(f"{'job':<22} {'cron':<14} {'timezone':<16} {'next run (local)':<26} {'last':<10} notes")
    for job in config.ordered():
        nxt = sched.next_slot(job, now).astimezone(ZoneInfo(job.timezone))
        last = state.last_final(job.name)
        notes = []
        if sched.is_due(job, now, state.last_slot(job.name)):
            notes.append("due now")
        if job.depends_on:
            notes.append(f"after {', '.join(job.depends_on)}")
        if not job.enabled:
            notes.append("disabled")
        notes += sched.missing_files(job)
        click.echo(
            f"{job.name:<22} {job.cron:<14} {job.timezone:<16} {nxt:%Y-%m-%d %H:%M %Z}".ljust(81)
            + f" {(last or {}).get('status', 'never'):<10} {'; '.join(notes)}"
        )


@schedule.command("history")
@schedule_file
@click.option("--job", help="Only this job.")
@click.option("-n", "--limit", default=20, show_default=True, help="How many rows.")
def history(schedule_path: str, job: str | None, limit: int) -> None:
    """Past attempts, newest first: start time, job, status, duration, error."""
    from cdp_lib.reports import schedule as sched

    config = sched.load_schedule(schedule_path)
    if job:
        config.job(job)
    rows = sched.State(config.settings.state_path).history(job, limit)
    if not rows:
        click.echo("no runs yet")
        return
    click.echo(f"{'started (UTC)':<20} {'job':<22} {'try':>3} {'status':<10} {'duration':>9}  run / error")
    for r in rows:
        started = dt.datetime.fromisoformat(r["started_at"]).astimezone(dt.timezone.utc) if r["started_at"] else None
        duration = f"{r['duration_seconds']:.1f} s" if r["duration_seconds"] is not None else ""
        detail = r["error"] or r["run_id"] or ""
        click.echo(
            f"{started:%Y-%m-%d %H:%M:%S}".ljust(20) + f" {r['job']:<22} {r['attempt']:>3} {r['status']:<10} {duration:>9}  {detail}"
        )


def register(group: click.Group) -> None:
    group.add_command(schedule)
