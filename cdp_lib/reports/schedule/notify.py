"""The failure webhook: a job that gave up is announced through the activation outbox."""

from __future__ import annotations

import logging
import os

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
