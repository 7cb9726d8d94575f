"""One notifier for the scheduler's failed-run webhook and for monitor alerts.

`notify` stores the POST in the durable outbox first, then tries to send it a few times right
away (signed, with backoff and jitter); a notification that still could not be sent stays
pending and goes out with the next `cdp activation run` or `cdp activation retry`. The body is
the payload itself (the scheduler's documented `{"event": "job_failed", ...}`), so existing
receivers keep working; the headers are those of every activation webhook. Without a secret
(no `secret_env` value set and no `secret_file`) the request is sent unsigned and a warning is
logged, so a missing secret never silences a failure alert.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from pathlib import Path

from cdp_lib.activation.deliver import attempt_delivery, read_secret
from cdp_lib.activation.store import Outbox, new_delivery_id, outbox_path
from cdp_lib.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_SECRET_ENV = "CDP_WEBHOOK_SECRET"


def notifier_outbox(db: str | os.PathLike | None = None, state_dir: str | os.PathLike | None = None) -> Outbox:
    """The workspace's outbox when the workspace exists, else one in `state_dir` (or the temp folder)."""
    candidate = Path(db) if db is not None else Path(os.environ.get("CDP_DB", "data/cdp.duckdb"))
    if candidate.is_file():
        return Outbox(outbox_path(candidate))
    folder = Path(state_dir) if state_dir is not None else Path(tempfile.gettempdir())
    return Outbox(folder / "notify.activation.sqlite")


def notify(url: str, payload: dict, timeout: float = 10.0, secret_env: str | None = DEFAULT_SECRET_ENV,
           secret_file: str | None = None, db: str | os.PathLike | None = None,
           state_dir: str | os.PathLike | None = None, tries_now: int = 3, source: str = "notifier",
           sleep=time.sleep, rng: random.Random | None = None) -> tuple[bool, str | None]:
    """Enqueue and send one notification; returns `(delivered, last error)`. Never raises."""
    try:
        outbox = notifier_outbox(db, state_dir)
    except OSError as exc:
        return False, f"cannot open the outbox: {exc}"
    destination = {"url": url, "timeout_seconds": timeout, "raw_body": True,
                   "backoff_base_seconds": 0.5, "backoff_cap_seconds": 300}
    if secret_file:
        destination["secret_file"] = secret_file
    elif secret_env:
        destination["secret_env"] = secret_env
    try:
        read_secret(destination)
    except InputError:
        log.warning("webhook %s: no secret (%s); sending unsigned", url,
                    f"secret_file {secret_file}" if secret_file else f"${secret_env}")
        destination = {k: v for k, v in destination.items() if k not in {"secret_env", "secret_file"}}
        destination["unsigned"] = True
    delivery_id = new_delivery_id()
    outbox.enqueue(source, "webhook", destination, [([], {**payload, "delivery_id": delivery_id})],
                   max_attempts=10)
    error = None
    for i in range(max(1, tries_now)):
        row = next((r for r in outbox.deliveries(status="pending", trigger=source, limit=1000)
                    if r["delivery_id"] == delivery_id), None)
        if row is None:
            break
        wait = row["next_attempt_at"] - time.time()
        if i > 0 and wait > 0:
            sleep(min(wait, 30))
        status = attempt_delivery(outbox, row, rng)
        if status == "delivered":
            return True, None
        error = outbox.attempts(delivery_id, limit=1)[0]["error"]
        if status == "failed":
            break
    return False, error
