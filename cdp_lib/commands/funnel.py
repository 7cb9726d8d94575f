"""`cdp funnel`: people reaching each step of an ordered funnel."""

from __future__ import annotations

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.commands._output import echo_json, frame_records, json_option, write_frame
from cdp_lib.errors import InputError

OUTPUT_COLUMNS = ["step", "metric", "profiles", "conversion_from_start", "conversion_from_previous",
                  "median_seconds_to_step"]


def parse_exclusion(text: str) -> dict:
    """'METRIC:A:B' -> exclusion between steps A and B (1-based)."""
    metric, sep, rest = text.rpartition(":")
    head, sep2, after = metric.rpartition(":")
    if not sep or not sep2 or not head:
        raise InputError(f"--exclude {text!r}: expected METRIC:AFTER_STEP:BEFORE_STEP, e.g. 'Cancelled Order:1:3'")
    try:
        return {"metric": head, "after_step": int(after), "before_step": int(rest)}
    except ValueError:
        raise InputError(f"--exclude {text!r}: step numbers must be whole numbers") from None


@click.command()
@click.option("--step", "steps", multiple=True, required=True, help="Step metric, in order (2-10 times).")
@click.option("--window", default="14d", show_default=True, help="Completion window from step 1: 30m, 12h, 7d, 2w.")
@click.option("--from", "from_date", help="First day people may enter (YYYY-MM-DD, UTC).")
@click.option("--to", "to_date", help="Last day people may enter (YYYY-MM-DD, UTC).")
@click.option("--breakdown", help="Step-1 event column or profile property to split by.")
@click.option("--top-n", default=10, show_default=True, help="Breakdown values kept before folding into Other.")
@click.option("--segment", help="Only count current members of this segment.")
@click.option("--exclude", "exclusions", multiple=True, help="Exclusion step METRIC:AFTER_STEP:BEFORE_STEP.")
@click.option("--out", help="Write CSV (or .parquet) here instead of printing.")
@json_option
@pass_context
def funnel(ctx: Context, steps, window, from_date, to_date, breakdown, top_n, segment, exclusions, out,
           as_json) -> None:
    """Ordered funnel: people per step, conversion and median time to each step.

    Prints the entry range it used (given, or 30 days ending on the newest step-1 event) and the
    table with conversions as percentages; --json prints {from, to, window, steps: [...]} with
    conversions as ratios 0-1.
    """
    from cdp_lib.funnel import breakdown_column, entry_dates, funnel_frame, funnel_params

    params = funnel_params(list(steps), window, from_date, to_date, breakdown, top_n,
                           [parse_exclusion(e) for e in exclusions], segment)
    ws = ctx.workspace(read_only=True)
    first, last = entry_dates(ws, params)
    df = funnel_frame(ws, params)  # resolves the same range as entry_dates
    cols = ([breakdown_column(params)] if breakdown else []) + OUTPUT_COLUMNS
    if as_json and not out:
        echo_json({"from": str(first), "to": str(last), "window": window, "steps": frame_records(df[cols])})
        return
    click.echo(f"people entering from {first} to {last} (UTC, both days included), window {window}")
    write_frame(df[cols], out, kinds={"median_seconds_to_step": "count"})


def register(group: click.Group) -> None:
    group.add_command(funnel)
