"""`cdp init` and `cdp info`."""

from __future__ import annotations

import json

import click

from cdp_lib import schema
from cdp_lib.commands._base import Context, pass_context


@click.command()
@pass_context
def init(ctx: Context) -> None:
    """Create the workspace file and its empty tables (safe to repeat)."""
    ws = ctx.workspace()
    click.echo(f"workspace ready: {ws.path}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def info(ctx: Context, as_json: bool) -> None:
    """Table sizes, the events' date range and events per metric."""
    summary = ctx.workspace(read_only=True).summary()
    if as_json:
        click.echo(json.dumps(summary, default=str, indent=2))
        return
    for name, rows in summary["tables"].items():
        click.echo(f"{name:<10} {rows:>12,} rows")
    if "first_event" in summary:
        click.echo(f"events from {summary['first_event']:%Y-%m-%d} to {summary['last_event']:%Y-%m-%d}")
        width = max(len("metric"), *(len(m["metric"]) for m in summary["metrics"]))
        click.echo(f"{'metric':<{width}}  {'events':>12}  {'profiles':>10}")
        for m in summary["metrics"]:
            click.echo(f"{m['metric']:<{width}}  {m['events']:>12,}  {m['profiles']:>10,}")
    click.echo(f"merges: {summary.get('merges', 0):,}   quarantined rows: {summary.get('quarantined', 0):,}")
    if summary.get("events_out_of_range"):
        click.echo(f"events with a timestamp outside {schema.EARLIEST_TIME}..{schema.LATEST_TIME} "
                   f"(hidden from analyses): {summary['events_out_of_range']:,}")


def register(group: click.Group) -> None:
    group.add_command(init)
    group.add_command(info)
