"""Sending the outbox: signed webhook POSTs and file writes, retried with backoff and jitter.

A delivery is attempted until it succeeds, fails for good, or runs out of attempts:

- 2xx: delivered.
- timeouts, refused or reset connections, 429 and 5xx: retried after
  ``min(cap, base * 2**(attempt-1))`` seconds, of which the second half is random (jitter), or
  after the receiver's ``Retry-After`` seconds when that is longer.
- any other status (3xx, 4xx): failed at once, since repeating the same request cannot succeed.
- a missing secret: retried (the operator may set it), the error names the variable, never a value.

After ``max_attempts`` the delivery is failed; ``cdp activation retry`` makes it pending again.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import os
import random
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from cdp_lib.activation.signing import sign_headers
from cdp_lib.activation.store import Outbox, now_iso, sender_lock
from cdp_lib.errors import InputError

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0


def backoff_seconds(attempt: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS,
                    rng: random.Random | None = None) -> float:
    """Wait before attempt `attempt + 1`: half of the exponential step fixed, half random."""
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


def read_secret(destination: dict) -> str:
    """The destination's secret from `secret_env` or `secret_file`; the value is never shown."""
    env, file = destination.get("secret_env"), destination.get("secret_file")
    if env:
        value = os.environ.get(env)
        if not value:
            raise InputError(f"webhook secret: environment variable {env} is not set; export it before sending")
        return value
    if file:
        from cdp_lib.project import resolve_path

        path = resolve_path(file)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"webhook secret: cannot read secret file {path}: {exc.strerror}") from None
        if not value:
            raise InputError(f"webhook secret: secret file {path} is empty")
        return value
    raise InputError("webhook destination has no secret_env or secret_file")


@dataclasses.dataclass
class Attempt:
    """What one attempt did: `outcome` delivered | retry | failed."""

    outcome: str
    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow redirects: urllib would repeat a POST as a body-less GET and call it done."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_webhook(destination: dict, delivery_id: str, body: bytes, secret: str | None) -> Attempt:
    """One signed POST; classifies the result (never raises for network trouble)."""
    headers = sign_headers(secret, delivery_id, body) if secret is not None else {
        "Content-Type": "application/json", "X-CDP-Delivery": delivery_id}
    request = urllib.request.Request(destination["url"], data=body, method="POST", headers=headers)
    timeout = float(destination.get("timeout_seconds", 10))
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        if status == 429 or status >= 500:
            return Attempt("retry", status, f"HTTP {status}", retry_after)
        return Attempt("failed", status, f"HTTP {status} (not retried: the receiver refused the request)")
    except (socket.timeout, TimeoutError):
        return Attempt("retry", None, f"timed out after {timeout:g} s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return Attempt("retry", None, f"timed out after {timeout:g} s")
        return Attempt("retry", None, f"connection error: {reason}")
    except (ConnectionError, OSError, http.client.HTTPException) as exc:  # reset, truncated answer
        return Attempt("retry", None, f"connection error: {type(exc).__name__}: {exc}")
    except ValueError as exc:  # malformed URL
        return Attempt("failed", None, f"bad URL: {exc}")
    if 200 <= status < 300:
        return Attempt("delivered", status)
    return Attempt("failed", status, f"HTTP {status} (not retried)")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def write_file(destination: dict, body: dict) -> Attempt:
    """Write the batch's rows to the destination file (CSV or JSON Lines), atomically."""
    import csv

    path = Path(destination["path"])
    rows = body.get("items", [])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            if destination.get("format") == "jsonl":
                for row in rows:
                    fh.write(json.dumps(row, default=str, sort_keys=False) + "\n")
            else:
                columns = destination.get("columns") or (list(rows[0]) if rows else [])
                writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        return Attempt("retry", None, f"cannot write {path}: {exc.strerror or exc}")
    return Attempt("delivered")


def attempt_delivery(outbox: Outbox, row: dict, rng: random.Random | None = None,
                     clock: Callable[[], float] = time.time) -> str:
    """Attempt one delivery and record it; returns its new status."""
    destination = json.loads(row["destination"])
    body = json.loads(row["body"])
    attempt_no = int(row["attempts"]) + 1
    started = time.monotonic()
    if row["kind"] == "file":
        result = write_file(destination, body)
    else:
        secret: str | None | bool = None
        if not destination.get("unsigned"):  # only the scheduler's notifier without a secret
            try:
                secret = read_secret(destination)
            except InputError as exc:
                result = Attempt("retry", None, str(exc))
                secret = False
        if secret is not False:
            if destination.get("raw_body"):  # the notifier: the payload as given
                payload = {k: v for k, v in body.items() if k != "delivery_id"}
            else:
                payload = {"trigger": body.get("trigger"), "delivery_id": row["delivery_id"], "sent_at": now_iso(),
                           **{k: v for k, v in body.items() if k not in {"trigger", "delivery_id", "sent_at"}}}
            data = json.dumps(payload, default=str, separators=(",", ":")).encode("utf-8")
            result = post_webhook(destination, row["delivery_id"], data, secret)
    seconds = round(time.monotonic() - started, 4)
    if result.outcome == "retry" and attempt_no >= int(row["max_attempts"]):
        status, next_at = "failed", None
        result.error = f"{result.error}; gave up after {attempt_no} attempts ('cdp activation retry' tries again)"
    elif result.outcome == "retry":
        wait = backoff_seconds(attempt_no, float(destination.get("backoff_base_seconds", BACKOFF_BASE_SECONDS)),
                               float(destination.get("backoff_cap_seconds", BACKOFF_CAP_SECONDS)), rng)
        if result.retry_after is not None:
            wait = max(wait, min(result.retry_after, BACKOFF_CAP_SECONDS))
        status, next_at = "pending", clock() + wait
    else:
        status, next_at = result.outcome, None
    outbox.record_attempt(row["delivery_id"], attempt_no, result.outcome, status, next_at,
                          result.http_status, result.error, seconds)
    if result.outcome != "delivered":
        log.warning("delivery %s (%s) attempt %d: %s", row["delivery_id"], row["trigger"], attempt_no, result.error)
    return status


@dataclasses.dataclass
class SendSummary:
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    busy: bool = False

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def deliver_pending(outbox: Outbox, max_wait_seconds: float = 60.0, rng: random.Random | None = None,
                    sleep: Callable[[float], None] = time.sleep, lock_wait_seconds: float = 0.0,
                    only: set[str] | None = None) -> SendSummary:
    """Send every due delivery; wait for retries falling due within `max_wait_seconds`.

    Deliveries whose next attempt lies beyond the budget stay pending for the next run (or
    `cdp activation retry`). One sender per outbox: when another holds the lock, returns with
    `busy` set and sends nothing. `only` limits sending to those delivery ids.
    """
    summary = SendSummary()
    deadline = time.time() + max_wait_seconds
    with sender_lock(outbox, lock_wait_seconds) as held:
        if not held:
            summary.busy = True
            return summary
        while True:
            due = [r for r in outbox.due() if only is None or r["delivery_id"] in only]
            for row in due:
                status = attempt_delivery(outbox, row, rng)
                if status == "delivered":
                    summary.delivered += 1
                elif status == "failed":
                    summary.failed += 1
            if due:
                continue
            waiting = [r for r in outbox.deliveries(status="pending", limit=100000)
                       if only is None or r["delivery_id"] in only]
            if not waiting:
                break
            nxt = min(r["next_attempt_at"] for r in waiting)
            if nxt > deadline:
                break
            sleep(max(0.0, min(nxt - time.time(), deadline - time.time())) + 0.01)
    summary.pending = sum(1 for r in outbox.deliveries(status="pending", limit=100000)
                          if only is None or r["delivery_id"] in only)
    return summary
