"""`cdp ingest` and `cdp quarantine`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.schema import INPUT_TABLES


def _progress_bar(path: Path):
    """A tqdm bar over the ingest steps, only on a terminal and for large files."""
    from cdp_lib import ingest as ingest_lib

    if not sys.stderr.isatty() or path.stat().st_size < ingest_lib.LARGE_FILE_BYTES:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=len(ingest_lib.STEPS), desc=f"ingest {path.name}", unit="step", file=sys.stderr)

    def progress(step: str, index: int, total: int) -> None:
        bar.set_postfix_str(step)
        bar.update(1)

    return progress, bar


@click.command()
@click.argument("table", type=click.Choice(INPUT_TABLES))
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--map", "mapping", multiple=True, metavar="SOURCE=CANONICAL",
    help="Name the canonical column a source column holds, e.g. --map 'E-Mail=email' (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON summary line per file.")
@click.option("--from", "from_url", metavar="URL", default=None,
              help="Import from a database table instead of files: postgresql://user@host:5432/db.")
@click.option("--table", "source_table", metavar="NAME", default=None, help="The table to import (with --from).")
@click.option("--modified-column", default="modified_at", show_default=True,
              help="With --from: the column telling when a row changed; only rows at or after the "
                   "last import's newest value are read.")
@pass_context
def ingest(ctx: Context, table: str, files: tuple[Path, ...], mapping: tuple[str, ...], as_json: bool,
           from_url: str | None, source_table: str | None, modified_column: str) -> None:
    """Load CSV, Parquet or JSON Lines FILES into TABLE (profiles, events or catalog), or
    import a database table with --from URL --table NAME (profiles or events).

    Each file is loaded atomically; its rows end up loaded, duplicate or quarantined
    (see 'cdp quarantine list'). Re-ingesting a file changes nothing.
    """
    from cdp_lib import ingest as ingest_lib

    if from_url is not None or source_table is not None:
        _import(ctx, table, files, mapping, as_json, from_url, source_table, modified_column)
        return
    if not files:
        raise click.UsageError("give one or more FILES, or --from URL --table NAME")
    # Check every file and the mapping before touching the workspace.
    for path in files:
        ingest_lib.detect_format(path)
    explicit = ingest_lib.parse_mapping(mapping)
    ws = ctx.workspace()
    for path in files:
        progress, bar = _progress_bar(path)
        try:
            result = ingest_lib.ingest_file(ws, table, path, mapping=explicit, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        if as_json:
            keys = ("rows", "loaded", "duplicates", "quarantined", "ingest_id", "file", "table",
                    "new_profiles", "merges", "seconds")
            click.echo(json.dumps({k: getattr(result, k) for k in keys}))
            continue
        line = (f"{path}: {result.rows:,} rows -> {result.loaded:,} loaded, "
                f"{result.duplicates:,} duplicates, {result.quarantined:,} quarantined")
        if table != "catalog":
            line += f"; {result.new_profiles:,} new profiles, {result.merges:,} merges"
        click.echo(line + f" ({result.seconds:.1f} s)")
        if result.quarantined:
            click.echo(f"  see why: cdp quarantine list --ingest {result.ingest_id}")


def _import(ctx, table, files, mapping, as_json, from_url, source_table, modified_column) -> None:
    """`--from URL --table NAME`: a warehouse import (cdp_lib.sync.importer)."""
    from cdp_lib import ingest as ingest_lib
    from cdp_lib.errors import InputError
    from cdp_lib.sync.importer import import_table

    if files or not from_url or not source_table:
        raise InputError("a warehouse import takes --from URL and --table NAME and no files")
    r = import_table(ctx.workspace(), table, from_url, source_table, modified_column=modified_column,
                     mapping=ingest_lib.parse_mapping(mapping))
    if as_json:
        click.echo(json.dumps(r.as_dict(), default=str))
        return
    if r.ingest is None:
        click.echo(f"{r.source}#{r.source_table}: nothing modified since {r.watermark_before}")
        return
    i = r.ingest
    click.echo(f"{r.source}#{r.source_table}: {i.rows:,} rows -> {i.loaded:,} loaded, {i.duplicates:,} "
               f"duplicates, {i.quarantined:,} quarantined; {i.new_profiles:,} new profiles, "
               f"{i.merges:,} merges; watermark {r.watermark_after}")
    if i.quarantined:
        click.echo(f"  see why: cdp quarantine list --ingest {i.ingest_id}")


@click.group()
def quarantine() -> None:
    """Rows that ingest set aside, with the reason; fix them and ingest them again."""


@quarantine.command("list")
@click.option("--ingest", "ingest_id", default=None, help="Only rows of this ingest id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Rows to show.")
@click.option("--json", "as_json", is_flag=True, help="JSON records instead of a table.")
@pass_context
def quarantine_list(ctx: Context, ingest_id: str | None, limit: int, as_json: bool) -> None:
    """Show quarantined rows: ingest id, file, line, reason and the raw row."""
    from cdp_lib import ingest as ingest_lib

    df = ingest_lib.quarantine_table(ctx.workspace(read_only=True), ingest_id=ingest_id, limit=limit)
    if as_json:
        click.echo(df.to_json(orient="records", date_format="iso"))
        return
    if df.empty:
        click.echo("no quarantined rows")
        return
    shown = df[["ingest_id", "file", "line", "reason", "raw"]]
    click.echo(shown.to_string(index=False, max_colwidth=80))


@quarantine.command("export")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="CSV file to write (default: standard output).")
@click.option("--ingest", "ingest_id", default=None, help="Only rows of this ingest id.")
@pass_context
def quarantine_export(ctx: Context, out: Path | None, ingest_id: str | None) -> None:
    """Write quarantined rows as CSV (ingest_id, file, table_name, line, reason, raw, time)."""
    from cdp_lib import ingest as ingest_lib

    ws = ctx.workspace(read_only=True)
    if out is None:
        ingest_lib.quarantine_table(ws, ingest_id=ingest_id).to_csv(sys.stdout, index=False)
        return
    n = ingest_lib.export_quarantine(ws, out, ingest_id=ingest_id)
    click.echo(f"wrote {n:,} quarantined rows to {out}", err=True)


def register(group: click.Group) -> None:
    group.add_command(ingest)
    group.add_command(quarantine)
