"""`cdp sync --to URL` and `cdp sync status`: profiles, events and results to a warehouse or lake."""

from __future__ import annotations

import json

import click

from cdp_lib.commands._base import Context, pass_context


@click.group("sync", invoke_without_command=True)
@click.option("--to", "to", metavar="URL",
              help="postgresql://user@host:5432/db, another Ibis URL (duckdb://file.duckdb...) or lake:DIR.")
@click.option("--tables", default="profiles,events", show_default=True,
              help="Comma-separated: profiles, events, segment_membership, rfm, clv.")
@click.option("--batch-rows", default=50_000, show_default=True, type=click.IntRange(min=1),
              help="Rows per batch (each batch is committed to the target, then recorded).")
@click.option("--full", is_flag=True,
              help="Send every row again (after the target was emptied or edited by hand).")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per table.")
@click.pass_context
def sync(click_ctx: click.Context, to: str | None, tables: str, batch_rows: int, full: bool,
         as_json: bool) -> None:
    """Send what changed since the last successful run: upsert profiles by profile_id, events by
    event_id (no duplicates), delete what the workspace no longer has, add new columns.
    An interrupted run resumes where it stopped. See docs/data-management.md."""
    if click_ctx.invoked_subcommand is not None:
        return
    from cdp_lib.errors import InputError
    from cdp_lib.sync import SyncParams, sync as run_sync

    if not to:
        raise InputError("cdp sync needs --to URL (postgresql://user@host:5432/db or lake:DIR), "
                         "or the subcommand 'status'")
    ctx: Context = click_ctx.obj
    params = SyncParams(to=to, tables=tables, batch_rows=batch_rows, full=full)
    for t in run_sync(ctx.duckdb_workspace(), params):
        if as_json:
            click.echo(json.dumps(t.as_dict()))
            continue
        line = f"{t.table}: {t.sent:,} rows sent, {t.deleted:,} deleted"
        if params.kind == "lake":
            line = f"{t.table}: {t.sent:,} rows sent in {t.partitions:,} rewritten partitions"
        line += f" ({t.seconds:.1f} s)"
        if t.added_columns:
            line += f"; columns added: {', '.join(t.added_columns)}"
        click.echo(line)


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON records.")
@pass_context
def sync_status(ctx: Context, as_json: bool) -> None:
    """Per target and table: watermark, rows sent, last run and last error."""
    from cdp_lib.sync import status

    rows = status(ctx.duckdb_workspace(read_only=True))
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    if not rows:
        click.echo("no sync has run yet; start one with 'cdp sync --to URL'")
    for r in rows:
        mark = r["watermark"].isoformat() if r["watermark"] else "never completed"
        line = (f"{r['target']} {r['table_name']}: complete up to {mark}; {r['rows_sent']:,} sent in all, "
                f"{r['last_rows']:,} in the last run")
        if r["last_error"]:
            line += f"; last error: {r['last_error']}"
        click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(sync)
