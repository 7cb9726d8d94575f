"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body bytes>", and the receiver's check.

Every request carries three headers:

- ``X-CDP-Delivery``: the delivery id (the same on every retry, so receivers de-duplicate on it);
- ``X-CDP-Timestamp``: Unix seconds when this attempt was signed;
- ``X-CDP-Signature``: ``sha256=<hex>``, the lower-case hex HMAC-SHA256 of the ASCII timestamp,
  a full stop and the exact body bytes, keyed with the destination's secret (UTF-8).

A receiver recomputes the HMAC over the raw body it received (before any JSON parsing), compares
in constant time and refuses timestamps older than a tolerance, which stops replays of a captured
request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Mapping

DELIVERY_HEADER = "X-CDP-Delivery"
TIMESTAMP_HEADER = "X-CDP-Timestamp"
SIGNATURE_HEADER = "X-CDP-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def signature(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-CDP-Signature`` value for `body` signed at `timestamp` (Unix seconds)."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign_headers(secret: str | bytes, delivery_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers for one attempt: content type, delivery id, timestamp and signature."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, ts, body),
    }


def verify_signature(secret: str | bytes, body: bytes, headers: Mapping[str, str],
                     tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """True when `headers` carry a valid signature of `body` made within `tolerance_seconds`.

    `headers` is any mapping of the request's headers (names are matched case-insensitively);
    `body` must be the raw bytes received. Timestamps further than the tolerance in the past or
    the future are refused.

    >>> h = sign_headers("s3cret", "d-1", b'{"a":1}', timestamp=1700000000)
    >>> verify_signature("s3cret", b'{"a":1}', h, now=1700000010)
    True
    >>> verify_signature("s3cret", b'{"a":2}', h, now=1700000010)
    False
    >>> verify_signature("s3cret", b'{"a":1}', h, now=1700009999)
    False
    """
    lower = {str(k).lower(): v for k, v in headers.items()}
    ts, sig = lower.get(TIMESTAMP_HEADER.lower()), lower.get(SIGNATURE_HEADER.lower())
    if not ts or not sig:
        return False
    try:
        ts_int = int(ts)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts_int) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, ts_int, body), str(sig))
