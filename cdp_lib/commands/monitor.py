"""`cdp monitor list|run|history`: rules on metrics, segments and flows, with alerts."""

from __future__ import annotations

import json

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.commands._output import echo_frame, json_option

FOLDER_OPTION = click.option("--folder", default=None,
                             help="Folder of monitor definitions (YAML); default the repository's parameters/monitors.")


def _echo_frame(df, as_json: bool = False) -> None:
    echo_frame(df, as_json)


@click.group()
def monitor() -> None:
    """Monitors: list definitions, evaluate them for a day, show results and alerts."""


@monitor.command("list")
@FOLDER_OPTION
def list_(folder: str | None) -> None:
    """Each monitor: kind, target, conditions and whether it is enabled."""
    from cdp_lib.monitors import load_monitors

    for m in load_monitors(folder).values():
        joiner = " AND " if m.match == "all" else " OR "
        repeat = f"; repeats every {m.repeat_every_days} d" if m.repeat_every_days else ""
        state = "" if m.enabled else " (disabled)"
        click.echo(f"{m.name}{state}\n  {m.kind} {m.target}: {joiner.join(c.describe() for c in m.conditions)}{repeat}")


@monitor.command("run")
@click.option("--as-of", "as_of", default=None, help="Evaluate for this date (YYYY-MM-DD, UTC); default today.")
@FOLDER_OPTION
@click.option("--schedule", "schedule_path", default="parameters/schedule.yaml", show_default=True,
              help="Schedule file whose settings.webhook_url receives alerts (the failed-run notifier); "
                   "relative to the project folder.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per monitor.")
@pass_context
def run(ctx: Context, as_of: str | None, folder: str | None, schedule_path: str, as_json: bool) -> None:
    """Evaluate every enabled monitor once for the day; store results; write and send alerts."""
    import datetime as dt

    from cdp_lib.dates import parse_date
    from cdp_lib.monitors import load_monitors, run_monitors
    from cdp_lib.reports.schedule.notify import schedule_notifier

    day = parse_date(as_of, "--as-of") or dt.datetime.now(dt.timezone.utc).date()
    monitors = load_monitors(folder, enabled_only=True)
    from cdp_lib.project import resolve_path

    notify = schedule_notifier(resolve_path(schedule_path))
    records = run_monitors(ctx.duckdb_workspace(), monitors.values(), day, notify)
    for rec in records:
        if as_json:
            click.echo(json.dumps(rec.result.as_json()))
        else:
            state = "TRIGGERED" if rec.result.triggered else "ok"
            alert = " -> alert" + ("" if rec.delivered is None else (" sent" if rec.delivered else " NOT sent")) \
                if rec.alerted else ""
            values = ", ".join("n/a" if c.value is None else f"{c.value:.4g}" for c in rec.result.conditions)
            click.echo(f"{rec.result.as_of} {state:9} {rec.result.monitor} [{values}]{alert}")


@monitor.command("history")
@click.option("--monitor", "name", default=None, help="Only this monitor.")
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--results", is_flag=True, help="Show daily results instead of alerts.")
@json_option
@pass_context
def history(ctx: Context, name: str | None, limit: int, results: bool, as_json: bool) -> None:
    """Alerts (newest first), or with --results every stored daily result."""
    from cdp_lib.monitors import alerts_table, results_table

    ws = ctx.duckdb_workspace(read_only=True)
    if results:
        df = results_table(ws, name).head(limit)
        cols = [c for c in ("as_of", "monitor", "triggered", "value_1", "previous_1", "value_2", "previous_2",
                            "episode_start", "alerted") if c in df.columns]
        _echo_frame(df[cols], as_json)
    else:
        df = alerts_table(ws, name, limit)
        _echo_frame(df[["as_of", "monitor", "episode_start", "delivered", "message"]], as_json)


def register(group: click.Group) -> None:
    group.add_command(monitor)
