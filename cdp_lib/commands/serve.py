"""`cdp serve` (the membership API) and `cdp token create|list|revoke` (its bearer tokens)."""

from __future__ import annotations

import click

from cdp_lib.commands._base import Context, pass_context


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8870, show_default=True)
@click.option("--log", "log_file", default=None, help="Request log (JSON lines); default <workspace>.api.log next to the workspace.")
@pass_context
def serve(ctx: Context, host: str, port: int, log_file: str | None) -> None:
    """Answer GET /v1/profiles/{key}/segments from the published snapshot (bearer token required)."""
    from cdp_lib.serve.app import serve as run

    def ready(state) -> None:
        click.echo(f"membership API on http://{host}:{port}/v1/profiles/{{key}}/segments "
                   f"(snapshot {state.snapshot.name}; request log {state.log_path}); Ctrl-C stops")

    run(ctx.db, host=host, port=port, log_file=log_file, ready=ready)


@click.group()
def token() -> None:
    """Bearer tokens for the membership API (stored hashed)."""


@token.command("create")
@click.option("--name", required=True, help="Who or what uses the token, e.g. website.")
@pass_context
def create(ctx: Context, name: str) -> None:
    """Create a token and print it once; only its hash is stored."""
    from cdp_lib.serve.tokens import TokenStore

    click.echo(TokenStore.for_workspace(ctx.db).create(name))


@token.command("list")
@pass_context
def list_tokens(ctx: Context) -> None:
    """Token names with when they were created or revoked (never the tokens)."""
    from cdp_lib.serve.tokens import TokenStore

    rows = TokenStore.for_workspace(ctx.db).list()
    if not rows:
        click.echo("(no tokens)")
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        click.echo(f"{r['name']:<24} created {r['created_at']}  {state}")


@token.command("revoke")
@click.argument("name")
@pass_context
def revoke(ctx: Context, name: str) -> None:
    """Revoke a token by name; requests with it get 401 from now on."""
    from cdp_lib.serve.tokens import TokenStore

    TokenStore.for_workspace(ctx.db).revoke(name)
    click.echo(f"revoked {name}")


def register(group: click.Group) -> None:
    group.add_command(serve)
    group.add_command(token)
