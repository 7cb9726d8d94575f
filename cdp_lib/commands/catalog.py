"""`cdp catalog-insights`: repeat timing, same cart, next order, per-profile next best product."""

from __future__ import annotations

import click

from cdp_lib.commands._base import Context, old_flag, pass_context, renamed_flag


@click.command("catalog-insights")
@click.option("--as-of", "as_of", default=None, help="Last day of the lookback window (YYYY-MM-DD, UTC); default today.")
@click.option("--lookback-days", type=int, default=730, show_default=True, help="Days of purchases used.")
@click.option("--repeat-window-days", type=int, default=90, show_default=True,
              help="A next order within this many days counts as a repeat purchase.")
@click.option("--top-n", type=int, default=10, show_default=True, help="Other products kept per product.")
@click.option("--output-dir", "output_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for repeat_timing.csv, same_cart.csv, next_order.csv, category_*.csv, profiles.csv.")
@old_flag("--out-dir", "--output-dir", "out_dir", type=click.Path(file_okay=False))
@pass_context
def catalog_insights(ctx: Context, as_of, lookback_days, repeat_window_days, top_n, output_dir, out_dir) -> None:
    """Compute the catalog cards, store them in the workspace and write them as CSV files."""
    from cdp_lib.catalog import catalog_params, run_catalog_insights

    out_dir = renamed_flag(output_dir, out_dir, "--output-dir", "--out-dir")
    if out_dir is None:
        raise click.UsageError("Missing option '--output-dir'.")

    params = catalog_params(as_of, lookback_days, repeat_window_days, top_n)
    insights = run_catalog_insights(ctx.duckdb_workspace(), params, out_dir)
    products = len(insights["catalog_repeat_timing"])
    people = len(insights["catalog_profile_attributes"])
    click.echo(f"{params.first_day}..{params.as_of}: {products:,} products, {people:,} profiles; "
               f"CSV files in {out_dir}")


def register(group: click.Group) -> None:
    group.add_command(catalog_insights)
