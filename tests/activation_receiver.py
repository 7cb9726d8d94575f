"""A webhook receiver for tests: 127.0.0.1 only, verifies signatures, fails on purpose, records.

Written against the documented recipe (HMAC-SHA256 of "<timestamp>.<body>"), with its own
hashing code rather than `cdp_lib.activation.signing`, so a wrong signer cannot agree with itself.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time


def reference_verify(secret: str, body: bytes, timestamp: str, signature: str, now: float, tolerance: float = 300) -> bool:
    if abs(now - int(timestamp)) > tolerance:
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={mac}", signature)


class Receiver:
    """Answers each request by the next entry of `plan` ('ok', a status code, 'timeout', 'drop'), then 'ok'."""

    def __init__(self, secret: str, port: int = 0, timeout_sleep: float = 3.0):
        self.secret = secret
        self.plan: list = []
        self.requests: list[dict] = []  # every request that reached us, with its verdict
        self.accepted: list[dict] = []  # requests answered 2xx
        self.lock = threading.Lock()
        self.timeout_sleep = timeout_sleep
        self.delay = 0.0
        self._port = port
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                verified = reference_verify(receiver.secret, body, self.headers.get("X-CDP-Timestamp", "0"),
                                            self.headers.get("X-CDP-Signature", ""), time.time())
                with receiver.lock:
                    action = receiver.plan.pop(0) if receiver.plan else "ok"
                    rec = {"delivery_id": self.headers.get("X-CDP-Delivery"), "verified": verified,
                           "body": json.loads(body), "action": action}
                    receiver.requests.append(rec)
                if receiver.delay:
                    time.sleep(receiver.delay)
                if action == "drop":  # hang up without an answer
                    self.close_connection = True
                    return
                if action == "timeout":
                    time.sleep(receiver.timeout_sleep)
                    action = 200  # too late: the sender has given up on this attempt
                code = 200 if action == "ok" else int(action)
                if 200 <= code < 300 and verified:
                    with receiver.lock:
                        receiver.accepted.append(rec)
                elif not verified:
                    code = 401
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "0")
                if 300 <= code < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server_cls = type("S", (http.server.ThreadingHTTPServer,), {"allow_reuse_address": True, "daemon_threads": True})
        self.server = server_cls(("127.0.0.1", self._port), Handler)
        self._port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the port: connections are refused until `start` again."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def unique(self) -> dict[str, dict]:
        """Accepted deliveries after de-duplication by delivery id."""
        out: dict[str, dict] = {}
        for rec in self.accepted:
            out.setdefault(rec["delivery_id"], rec)
        return out

    def profiles(self) -> list[str]:
        return sorted(it["profile_id"] for rec in self.unique().values() for it in rec["body"]["items"])
