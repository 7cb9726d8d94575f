"""`cdp activation run|status|log|retry`: triggers, the outbox and code on events."""

from __future__ import annotations

import json

import click

from cdp_lib.commands._base import Context, pass_context


def _outbox(ctx: Context):
    from cdp_lib.activation.store import Outbox

    return Outbox.for_workspace(ctx.db)


@click.group()
def activation() -> None:
    """Activation: triggers to webhooks and files, the delivery outbox, code on events."""


@activation.command("run")
@click.option("--triggers", "triggers_dir", default="parameters/triggers", show_default=True,
              help="Folder of trigger definitions (YAML).")
@click.option("--code", "code_dir", default="parameters/code", show_default=True,
              help="Folder of code-on-events handlers (Python files).")
@click.option("--max-wait", "max_wait_seconds", type=float, default=60.0, show_default=True,
              help="Seconds to keep retrying deliveries in this run; later retries wait for the next run.")
@click.option("--no-send", is_flag=True, help="Compute and store in the outbox only; send later.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_context
def run(ctx: Context, triggers_dir: str, code_dir: str, max_wait_seconds: float, no_send: bool, as_json: bool) -> None:
    """Compute what every trigger has to send, store it in the outbox, run handlers, send."""
    from cdp_lib.activation.run import ActivationParams, run_activation

    ctx.close()  # run_activation opens the workspace only while it needs it
    summary = run_activation(ctx.db, ActivationParams(triggers_dir, code_dir, max_wait_seconds, not no_send))
    if as_json:
        click.echo(json.dumps(summary))
        return
    for r in summary["triggers"]:
        click.echo(f"trigger {r['trigger']!r}: {r['changes']} new change(s) in {r['deliveries']} delivery(ies)")
    for h in summary["handlers"]:
        click.echo(f"handler {h['handler']!r}: {h['events']} event(s): {h['done']} done, {h['errors']} error(s), "
                   f"{h['gave_up']} given up")
    sent = summary["sent"]
    if sent is not None:
        busy = " (another sender was running; it sends them)" if sent["busy"] else ""
        click.echo(f"sent: {sent['delivered']} delivered, {sent['failed']} failed, {sent['pending']} pending{busy}")


@activation.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Deliveries and items per trigger and status (pending, delivered, failed)."""
    rows = _outbox(ctx).status()
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("(outbox empty)")
    for r in rows:
        click.echo(f"{r['trigger']:<32} {r['status']:<10} {r['deliveries']:>6} deliveries {r['items'] or 0:>8} items  newest {r['newest']}")


@activation.command("log")
@click.option("--delivery", "delivery_id", default=None, help="Only the attempts of this delivery id.")
@click.option("--limit", type=int, default=30, show_default=True)
@pass_context
def log(ctx: Context, delivery_id: str | None, limit: int) -> None:
    """Recent delivery attempts, newest first: outcome, HTTP status, error."""
    rows = _outbox(ctx).attempts(delivery_id, limit)
    if not rows:
        click.echo("(no attempts)")
    for r in rows:
        code = r["http_status"] if r["http_status"] is not None else "-"
        click.echo(f"{r['at']} {r['delivery_id']} {r['trigger']} #{r['attempt']} {r['outcome']} {code} {r['error'] or ''}".rstrip())


@activation.command("retry")
@click.argument("delivery_ids", nargs=-1)
@click.option("--max-wait", "max_wait_seconds", type=float, default=60.0, show_default=True)
@pass_context
def retry(ctx: Context, delivery_ids: tuple[str, ...], max_wait_seconds: float) -> None:
    """Send failed and pending deliveries again now (all, or the given delivery ids)."""
    from cdp_lib.activation.deliver import deliver_pending

    outbox = _outbox(ctx)
    n = outbox.retry(list(delivery_ids) if delivery_ids else None)
    sent = deliver_pending(outbox, max_wait_seconds=max_wait_seconds)
    click.echo(f"retrying {n} delivery(ies): {sent.delivered} delivered, {sent.failed} failed, {sent.pending} pending")


def register(group: click.Group) -> None:
    group.add_command(activation)
