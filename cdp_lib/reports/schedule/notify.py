"""The failure webhook: a job that gave up is announced through the activation outbox."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


def notify_webhook(url: str, payload: dict, timeout: float = 10.0, *, secret_env: str | None = "CDP_WEBHOOK_SECRET",
                   secret_file: str | None = None, db: str | os.PathLike | None = None,
                   state_dir: str | os.PathLike | None = None) -> bool:
    """POST `payload` as JSON through the activation outbox: signed, retried, never lost.

    Signed with the secret in `$secret_env` (or `secret_file`) like every activation webhook
    (docs/activation.md); a few attempts are made now, and a notification still undelivered stays
    pending for `cdp activation run|retry`. Failures are logged, never raised (a dead hook must
    not stop jobs). Returns whether the POST was acknowledged with a 2xx.
    """
    from cdp_lib.activation.notify import notify

    ok, error = notify(url, payload, timeout=timeout, secret_env=secret_env, secret_file=secret_file,
                       db=db, state_dir=state_dir, source="scheduler")
    if not ok:
        log.warning("webhook %s failed: %s", url, error)
    return ok


def schedule_notifier(schedule_path: str | os.PathLike | None) -> Callable[[dict], bool] | None:
    """The failure webhook of a schedule file's settings as a notifier (`cdp monitor run` and the
    monitors notebook send alerts through it), or None without a file or a URL."""
    from cdp_lib.project import resolve_path
    from cdp_lib.reports.schedule.config import load_schedule

    if schedule_path is None or not resolve_path(schedule_path).is_file():
        return None
    settings = load_schedule(Path(resolve_path(schedule_path))).settings
    if not settings.webhook_url:
        return None

    def notify(payload: dict) -> bool:
        return notify_webhook(settings.webhook_url, payload, timeout=settings.webhook_timeout_seconds)

    return notify
