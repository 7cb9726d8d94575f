"""`cdp rfm`: score every customer who ordered, print the group distribution, write the rows."""

from __future__ import annotations

import warnings

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.commands._output import check_out, write_table


@click.command("rfm")
@click.option("--as-of", "as_of", help="Score as of the end of this date, YYYY-MM-DD (UTC). Default: today.")
@click.option("--metric", help="Conversion metric whose positive-value events are orders. Default: Placed Order.")
@click.option("--lookback-days", "lookback_days", type=int, help="Only orders in the N days up to as-of. Default: all history.")
@click.option("--recency-days-thresholds", "recency_days_thresholds", metavar="A,B",
              help="r_score 3 if days since last order <= A, 2 if <= B, else 1. Default: 180,365.")
@click.option("--frequency-thresholds", "frequency_thresholds", metavar="C1,C2",
              help="Fixed cut-offs: f_score 3 if orders > C2, 2 if > C1, else 1. Default: thirds.")
@click.option("--monetary-thresholds", "monetary_thresholds", metavar="C1,C2",
              help="Fixed cut-offs for revenue, as for --frequency-thresholds.")
@click.option("--frequency-quantiles", "frequency_quantiles", metavar="Q1,Q2",
              help="Cut-offs at these quantiles (0-1) of orders instead of thirds.")
@click.option("--monetary-quantiles", "monetary_quantiles", metavar="Q1,Q2",
              help="Cut-offs at these quantiles (0-1) of revenue instead of thirds.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False),
              help="YAML parameter file (e.g. parameters/rfm/monthly.yaml); flags override it.")
@click.option("--force", is_flag=True, default=None, help="Run even when the data prerequisites are unmet (prints a warning).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write one row per customer to this .csv or .parquet file.")
@click.option("--no-snapshot", is_flag=True, help="Do not store the result in rfm_snapshots (opens the workspace read-only).")
@pass_context
def rfm_command(ctx: Context, params_file: str | None, out: str | None, no_snapshot: bool, **flags) -> None:
    """RFM scores and groups per customer; stores a dated snapshot for profile attributes."""
    from cdp_lib import rfm
    from cdp_lib.prerequisites import PrerequisiteWarning

    data = {}
    where = "cdp rfm"
    if params_file:
        data = rfm.RfmParams.from_yaml(params_file)
        data = {f: getattr(data, f) for f in data.__dataclass_fields__}
        where = f"cdp rfm (with {params_file})"
    data.update({k: v for k, v in flags.items() if v is not None})
    params = rfm.RfmParams.from_mapping(data, where=where)
    if out:
        check_out(out)
    ws = ctx.workspace(read_only=no_snapshot)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PrerequisiteWarning)
        table, thresholds = rfm.scored_rfm(ws, params)
    for w in caught:
        if issubclass(w.category, PrerequisiteWarning):
            click.echo(f"warning: {w.message}", err=True)
    # Materialise once in the engine: the file, the summary and the snapshot all read it.
    table = table.cache()
    sizes = table.group_by("rfm_group").agg(n=table.count()).to_pyarrow().to_pylist()
    counts = {group: 0 for group in rfm.GROUP_ORDER} | {r["rfm_group"]: r["n"] for r in sizes}
    scored = sum(counts.values())
    as_of = params.as_of_date
    click.echo(f"RFM as of {as_of} on {params.metric!r} orders: {scored:,} customers scored")
    if any(issubclass(w.category, PrerequisiteWarning) for w in caught):
        click.echo("  FORCED: data prerequisites unmet, read these groups with care")
    click.echo(thresholds.as_frame()[["dimension", "rule"]].to_string(index=False, header=False))
    click.echo(f"{'group':<16}{'customers':>10}{'share':>8}")
    for group, n in counts.items():
        click.echo(f"{group:<16}{n:>10,}{100 * n / max(scored, 1):>7.1f}%")
    if out:
        rows = write_table(ws, table.order_by("profile_id"), out)
        click.echo(f"wrote {rows:,} rows to {out}")
    if not no_snapshot:
        stored = rfm.save_rfm_snapshot(ws, table, as_of)
        click.echo(f"snapshot {as_of} stored ({stored:,} rows); rfm_profile_attributes refreshed")


def register(group: click.Group) -> None:
    group.add_command(rfm_command)
