"""`cdp export lake DIR`: the workspace as partitioned Parquet for Spark and other engines."""

from __future__ import annotations

import json

import click

from cdp_lib.commands._base import Context, pass_context


@click.group("export")
def export_group() -> None:
    """Write the workspace's tables out for other engines."""


@export_group.command("lake")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--table", "tables", multiple=True, metavar="NAME",
              help="Export only this table (repeatable). Default: profiles, events, catalog, identities "
                   "and the analysis results present (rfm_snapshots, clv_predictions, segment_membership...).")
@click.option("--full", is_flag=True, help="Rewrite every partition instead of only those that changed.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@pass_context
def export_lake_command(ctx: Context, directory: str, tables: tuple[str, ...], full: bool, as_json: bool) -> None:
    """Write the workspace as Parquet under DIRECTORY (events by UTC date, profiles in hash buckets).

    A second export writes only the partitions whose content changed; DIRECTORY/_lake.json is
    the manifest readers follow.
    """
    from cdp_lib.lake import export_lake

    result = export_lake(ctx.duckdb_workspace(read_only=True), directory, tables=list(tables) or None,
                         incremental=not full)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    for name, t in result.tables.items():
        click.echo(f"{name:<24}{t.rows:>12,} rows  {len(t.written):>5} partitions written, "
                   f"{t.unchanged} unchanged, {len(t.removed)} removed")
    click.echo(f"lake at {result.directory} ({result.partitions_written} partitions written)")


def register(group: click.Group) -> None:
    group.add_command(export_group)
