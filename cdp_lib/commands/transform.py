"""`cdp transform list|preview|apply`: profile transforms from parameters/transforms/*.yaml."""

from __future__ import annotations

import json

import click

from cdp_lib.commands._base import Context, pass_context

DEFAULT_DIR = "parameters/transforms"
_DIR = click.option("--transforms", "directory", default=DEFAULT_DIR, show_default=True,
                    help="Folder of transform definitions (*.yaml).")


@click.group()
def transform() -> None:
    """Transform profile properties into <property>_transformed (merge -> format -> standardize)."""


@transform.command("list")
@_DIR
@pass_context
def transform_list(ctx: Context, directory: str) -> None:
    """The definitions in the folder, what they write, and which are active in the workspace."""
    from cdp_lib import transforms
    from cdp_lib.errors import WorkspaceError
    from cdp_lib.transforms import store

    defs = transforms.load_dir(directory)
    try:
        active = {d.name: d for d in store.active(ctx.workspace(read_only=True))}
    except WorkspaceError:  # no workspace yet: nothing is active
        active = {}
    if not defs and not active:
        click.echo(f"no transforms in {directory}")
    for d in defs:
        state = "active" if d.name in active and active[d.name].as_dict() == d.as_dict() else (
            "active (file changed since apply)" if d.name in active else "not applied")
        click.echo(f"{d.name}: {d.target} -> {d.output} [{', '.join(d.methods)}] "
                   f"({d.source.name}; {state})")
    for name in sorted(set(active) - {d.name for d in defs}):
        click.echo(f"{name}: {active[name].output} (active, no longer in {directory})")


@transform.command("preview")
@_DIR
@click.option("--name", "names", multiple=True, help="Only this transform (repeatable).")
@click.option("--sample", default=10, show_default=True, type=click.IntRange(min=0),
              help="Rows shown before -> after.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@pass_context
def transform_preview(ctx: Context, directory: str, names: tuple[str, ...], sample: int,
                      as_json: bool) -> None:
    """Counts of changed/unchanged/empty values and a before -> after sample; writes nothing."""
    from cdp_lib import transforms

    defs = _select(transforms.load_dir(directory), names, directory)
    results = transforms.preview(ctx.workspace(read_only=True), defs, sample=sample)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], default=str))
        return
    for r in results:
        d = r.definition
        click.echo(f"{d.name}: {d.target} -> {d.output}: {r.rows:,} profiles, {r.changed:,} changed, "
                   f"{r.unchanged:,} unchanged, {r.empty:,} empty")
        if r.bad_dates:
            click.echo(f"  warning: {r.bad_dates:,} values are not a date iso_date can read; "
                       "they become empty (see docs/data-management.md for the formats)")
        for row in r.sample.itertuples(index=False):
            click.echo(f"  {row.profile_id}: {row.before!r} -> {row.after!r} ({row.status})")


@transform.command("apply")
@_DIR
@pass_context
def transform_apply(ctx: Context, directory: str) -> None:
    """Write the outputs for every profile in one transaction; the folder's transforms become
    the active set, applied by every later profiles ingest to the rows it writes."""
    from cdp_lib import transforms

    defs = transforms.load_dir(directory)
    for c in transforms.apply(ctx.workspace(), defs):
        line = (f"{c['name']}: {c['output']} written for {c['written']:,} of {c['rows']:,} profiles "
                f"({c['changed']:,} changed, {c['unchanged']:,} unchanged, {c['empty']:,} empty)")
        click.echo(line)
        if c["bad_dates"]:
            click.echo(f"  warning: {c['bad_dates']:,} values are not a readable date; left empty")
    if not defs:
        click.echo(f"no transforms in {directory}: none active now")


def _select(defs, names, directory):
    if not names:
        return defs
    from cdp_lib.errors import InputError
    from cdp_lib.keys import suggest

    known = {d.name: d for d in defs}
    for n in names:
        if n not in known:
            raise InputError(f"--name {n!r}: no transform of that name in {directory}{suggest(n, known)}")
    return [d for d in defs if d.name in names]


def register(group: click.Group) -> None:
    group.add_command(transform)
