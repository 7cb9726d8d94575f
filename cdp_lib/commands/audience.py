"""`cdp audience-performance`: members, size change and attributed conversions per segment."""

from __future__ import annotations

from pathlib import Path

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.commands._output import json_option, write_frame
from cdp_lib.errors import InputError


def read_members(path: str) -> dict:
    """A YAML/JSON file {segment: [profile_id, ...]}."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"--members {path}: cannot read it: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise InputError(f"--members {path}: expected a mapping of segment name to a list of profile ids")
    return data


@click.command("audience-performance")
@click.option("--segment", "segments", multiple=True, help="Segment to report (repeat; default: all).")
@click.option("--period", type=click.Choice(["last_7_days", "last_30_days", "week_to_date", "month_to_date",
                                             "custom"]), default="last_7_days", show_default=True)
@click.option("--as-of", help="Last day of a preset period (YYYY-MM-DD; default today, UTC).")
@click.option("--start", help="First day of a custom period.")
@click.option("--end", help="Last day of a custom period (at most one year after --start).")
@click.option("--metric", "conversion_metric", default="Placed Order", show_default=True, help="Conversion metric.")
@click.option("--members", "members_file", help="YAML/JSON {segment: [profile_id]} instead of stored history.")
@click.option("--out", help="Write CSV (or .parquet) here instead of printing.")
@json_option
@pass_context
def audience_performance(ctx: Context, segments, period, as_of, start, end, conversion_metric, members_file,
                         out, as_json) -> None:
    """Per segment: members, size change, email/SMS/total conversions and revenue."""
    import warnings

    from cdp_lib.audience import HistoryWarning, audience_params, audience_performance_table

    params = audience_params(list(segments) or None, period, as_of, start, end, conversion_metric)
    members = read_members(members_file) if members_file else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HistoryWarning)
        df = audience_performance_table(ctx.workspace(read_only=True), params, members).execute()
    for w in caught:
        if issubclass(w.category, HistoryWarning):
            click.echo(f"warning: {w.message}", err=True)
    if not out and not as_json:
        click.echo(f"{params.start} to {params.end}")
    write_frame(df, out, as_json)


def register(group: click.Group) -> None:
    group.add_command(audience_performance)
