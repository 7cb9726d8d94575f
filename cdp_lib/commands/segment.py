"""`cdp segment run|refresh|sample|export|overlap|list|history|lookup`."""

from __future__ import annotations

from pathlib import Path

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.commands._output import echo_frame, json_option
from cdp_lib.errors import InputError, NotComputedError

FOLDER_OPTION = click.option(
    "--folder", default=None, help="Folder of segment definitions (YAML); default the repository's parameters/segments."
)
AS_OF_OPTION = click.option("--as-of", "as_of", default=None, help="Evaluate as of the end of this date (UTC); default today.")


def _folder(folder: str | None) -> str:
    from cdp_lib.segments.library import default_folder

    return folder or default_folder()


def _echo_frame(df, as_json: bool = False) -> None:
    echo_frame(df, as_json)


@click.group()
def segment() -> None:
    """Segments: evaluate definitions, refresh history, samples, exports, overlap, lookups."""


@segment.command("run")
@click.argument("definition")
@AS_OF_OPTION
@FOLDER_OPTION
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write members to this CSV file.")
@pass_context
def run(ctx: Context, definition: str, as_of: str | None, folder: str, out: str | None) -> None:
    """Evaluate one definition (YAML file or library name) and list its members."""
    from cdp_lib.segments import find_definition, load_library, members_table, members_with_fields

    library = load_library(_folder(folder), missing_ok=True)
    d = find_definition(definition, library, _folder(folder))
    ws = ctx.workspace(read_only=True)
    members = members_with_fields(ws, members_table(ws, d, as_of, library), ["profile_id", "external_id", "email"])
    df = members.execute()
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        click.echo(f"{d.name}: {len(df):,} members written to {out}")
    else:
        click.echo(f"{d.name}: {len(df):,} members" + (" (first 20 shown; --out writes all)" if len(df) > 20 else ""))
        _echo_frame(df.head(20))


@segment.command("refresh")
@AS_OF_OPTION
@FOLDER_OPTION
@click.option("--only", "names", multiple=True, help="Refresh only this segment (repeatable).")
@click.option("--backfill", "backfill_days", type=int, default=None, metavar="DAYS",
              help="First reconstruct daily history for the DAYS days before the as-of date (idempotent).")
@json_option
@pass_context
def refresh(ctx: Context, as_of: str | None, folder: str, names: tuple[str, ...], backfill_days: int | None,
            as_json: bool) -> None:
    """Evaluate every definition in dependency order and store dated membership history."""
    from cdp_lib.segments import refresh as do_refresh

    summary = do_refresh(ctx.workspace(), _folder(folder), as_of, names or None, backfill_days=backfill_days)
    columns = ["segment", "members", "entered", "left"]
    if backfill_days is not None:
        summary["backfill_from"] = summary["backfill_from"].map(lambda d: "" if d is None else str(d))
        columns += ["backfilled_days", "backfill_from", "backfill_note"]
    _echo_frame(summary[columns], as_json)


@segment.command("sample")
@click.argument("name")
@click.option("--fraction", type=float, default=None, help="Share of members in the test group, e.g. 0.1.")
@click.option("--size", type=int, default=None, help="Number of people in the test group.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same split.")
@AS_OF_OPTION
@FOLDER_OPTION
@json_option
@pass_context
def sample(ctx: Context, name: str, fraction: float | None, size: int | None, seed: int, as_of: str | None,
           folder: str, as_json: bool) -> None:
    """Split a segment into '<name> — test' and '<name> — control', stored as segments."""
    from cdp_lib.segments import load_library, sample as do_sample

    summary = do_sample(ctx.workspace(), name, fraction, size, seed, load_library(_folder(folder), missing_ok=True),
                        as_of)
    _echo_frame(summary[["segment", "members", "entered", "left"]], as_json)


@segment.command("export")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="CSV file to write.")
@click.option("--fields", default="profile_id,external_id,email", show_default=True,
              help="Comma-separated profile fields and computed attributes (e.g. predicted_clv).")
@click.option("--ad-audience", is_flag=True, help="Write SHA-256 hashed email/phone (no raw PII) for ad platforms.")
@click.option("--country-code", default="1", show_default=True, help="Country code for phones without one (ad audience).")
@AS_OF_OPTION
@FOLDER_OPTION
@pass_context
def export(ctx: Context, name: str, out: str, fields: str, ad_audience: bool, country_code: str,
           as_of: str | None, folder: str) -> None:
    """Export a segment's members: chosen fields, or a hashed ad-audience list."""
    from cdp_lib.segments import export_ad_audience, export_csv, load_library

    ws = ctx.workspace(read_only=True)
    library = load_library(_folder(folder), missing_ok=True)
    if ad_audience:
        rows = export_ad_audience(ws, name, out, country_code, library, as_of)
    else:
        chosen = [f.strip() for f in fields.split(",") if f.strip()]
        rows = export_csv(ws, name, out, chosen, library, as_of)
    click.echo(f"{name}: {rows:,} rows written to {out}")


@segment.command("overlap")
@click.argument("names", nargs=-1, required=True)
@FOLDER_OPTION
@pass_context
def overlap(ctx: Context, names: tuple[str, ...], folder: str) -> None:
    """People in both segments, for every pair of the given segments."""
    from cdp_lib.segments import load_library, overlap_table

    matrix = overlap_table(ctx.workspace(read_only=True), names, load_library(_folder(folder), missing_ok=True))
    click.echo(matrix.to_string())


@segment.command("list")
@FOLDER_OPTION
@pass_context
def list_(ctx: Context, folder: str) -> None:
    """The library's definitions, with their last stored size when refreshed."""
    from cdp_lib.segments import load_library

    library = load_library(_folder(folder))
    sizes = {}
    ws = ctx.workspace(read_only=True) if Path(ctx.db).exists() else None
    if ws is not None and ws.has_table("segment_refreshes"):
        from cdp_lib.segments import sizes_table

        last = sizes_table(ws).execute().groupby("segment").tail(1)
        sizes = dict(zip(last["segment"], last["members"]))
    for name, d in library.items():
        size = f"{sizes[name]:>10,}" if name in sizes else f"{'-':>10}"
        click.echo(f"{size}  {name}: {d.description}")


@segment.command("history")
@click.argument("name", required=False)
@click.option("--changes", is_flag=True, help="List who entered/left at the latest refresh instead of sizes.")
@json_option
@pass_context
def history(ctx: Context, name: str | None, changes: bool, as_json: bool) -> None:
    """Sizes over time (entered/left per refresh), or the people who changed."""
    from cdp_lib.segments import changes_table, sizes_table

    ws = ctx.workspace(read_only=True)
    if changes:
        _echo_frame(changes_table(ws, name).execute(), as_json)
        return
    df = sizes_table(ws, None if name is None else [name]).execute()
    if name is not None and df.empty:
        raise InputError(f"segment {name!r} has no stored history; run 'cdp segment refresh' first")
    _echo_frame(df[["segment", "as_of", "members", "entered", "left"]], as_json)


@segment.command("lookup")
@click.argument("who")
@pass_context
def lookup(ctx: Context, who: str) -> None:
    """Segments a person (profile id or email) is in now, with when they joined."""
    ws = ctx.workspace(read_only=True)
    if not ws.is_duckdb:
        _echo_frame(ws.segments_for(who))
        return
    from cdp_lib.membership import segment_rows

    if not {"segment_current", "segment_current_emails"} <= set(ws.table_names()):
        raise NotComputedError(f"no segment history in {ws.path}; run 'cdp segment refresh' first")
    rows = segment_rows(ws.duckdb, who)
    if not rows:
        click.echo("(none)")
        return
    width = max(len("segment"), *(len(segment) for segment, _ in rows))
    click.echo(f"{'segment':>{width}}                    joined_at")
    for segment, joined in rows:
        click.echo(f"{segment:>{width}}  {joined.isoformat(sep=' ')}")


def register(group: click.Group) -> None:
    group.add_command(segment)
