"""`cdp cohort`: acquisition cohorts and their activity in later periods (long format)."""

from __future__ import annotations

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.commands._output import json_option, write_frame

OUTPUT_COLUMNS = ["cohort", "period", "customers", "active_customers", "retention", "revenue", "period_complete"]


@click.command()
@click.option("--metric", default="Placed Order", show_default=True, help="First event of it defines the cohort.")
@click.option("--return-metric", help="Activity metric in later periods (default: --metric).")
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="month", show_default=True)
@click.option("--from", "from_date", help="First cohort day included (YYYY-MM-DD).")
@click.option("--to", "to_date", help="Last cohort day included (YYYY-MM-DD).")
@click.option("--until", help="Follow activity up to this day (default: newest event).")
@click.option("--breakdown", help="First-order column or profile property to split cohorts by.")
@click.option("--out", help="Write CSV (or .parquet) here instead of printing.")
@json_option
@pass_context
def cohort(ctx: Context, metric, return_metric, period, from_date, to_date, until, breakdown, out, as_json) -> None:
    """Rows cohort, period, customers, active_customers, retention, revenue, period_complete.

    period_complete is false for the period still running on the --until day (partial figures).
    """
    from cdp_lib.cohorts import cohort_params, cohort_table

    params = cohort_params(metric, return_metric, period, from_date, to_date, until, breakdown)
    df = cohort_table(ctx.workspace(read_only=True), params).execute()
    write_frame(df[([breakdown] if breakdown else []) + OUTPUT_COLUMNS], out, as_json)
    running = df[~df["period_complete"].astype(bool)]
    if len(running):
        click.echo(f"note: {running['cohort'].nunique():,} cohorts' last period is still running on "
                   f"{params.until or 'the newest event day'} (period_complete false): partial, not a drop", err=True)


def register(group: click.Group) -> None:
    group.add_command(cohort)
