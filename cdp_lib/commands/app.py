"""`cdp app NAME` (serve a Voila app) and `cdp publish` (refresh the apps' read-only snapshot)."""

from __future__ import annotations

import click

from cdp_lib.apps.serve import APPS, run_server, voila_command, voila_env
from cdp_lib.commands._base import Context, pass_context


@click.command("app")
@click.argument("name", type=click.Choice(sorted(APPS)))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; keep 127.0.0.1 unless a proxy with authentication is in front.")
@click.option("--port", default=8866, show_default=True, type=int)
@click.option("--token", default=None, help="Require ?token=TOKEN in the URL (use when binding beyond localhost).")
@click.option("--preheat/--no-preheat", default=True, show_default=True,
              help="Keep a kernel with the app already executed, so the page renders at once.")
@pass_context
def app(ctx: Context, name: str, host: str, port: int, token: str | None, preheat: bool) -> None:
    """Serve app NAME with Voila (code hidden, tracebacks hidden) on http://HOST:PORT/."""
    from cdp_lib.kpi import rollup_build
    from cdp_lib.snapshots import current_snapshot, publish

    if current_snapshot(ctx.db) is None:
        click.echo(f"publishing a read-only snapshot of {ctx.db} for the app", err=True)
        publish(ctx.db, prepare=rollup_build.build)
    click.echo(f"serving {name} on http://{host}:{port}/" + (f"?token={token}" if token else ""), err=True)
    # SIGTERM/Ctrl-C stop Voila and its kernels before this process exits.
    raise SystemExit(run_server(voila_command(name, host, port, token, preheat), voila_env(ctx.db)))


@click.command("publish")
@click.option("--keep", default=2, show_default=True, help="Snapshots kept besides those still open.")
@pass_context
def publish_cmd(ctx: Context, keep: int) -> None:
    """Copy the workspace to a new read-only snapshot that running apps switch to."""
    from cdp_lib.kpi import rollup_build
    from cdp_lib.snapshots import publish

    path = publish(ctx.db, keep=keep, prepare=rollup_build.build)
    click.echo(f"published {path}")


def register(group: click.Group) -> None:
    group.add_command(app)
    group.add_command(publish_cmd)
