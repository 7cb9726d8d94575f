"""The membership API on Tornado: bearer-token auth, JSON answers and errors, a request log.

Routes (all answers are JSON; errors are ``{"error": "..."}`` and never carry a stack trace):

- ``GET /v1/profiles/{key}/segments`` -> ``{"profile_id": ..., "segments": [names]}``; ``key`` is a
  profile id, an email or an external id (URL-encoded). 404 for an unknown profile.
- ``POST /v1/profiles/segments`` with ``{"keys": [...]}`` (at most 1,000) ->
  ``{"results": [{"key", "profile_id", "segments"} | {"key", "error": "unknown profile"}]}``.
- ``GET /v1/health`` (no token) -> ``{"status": "ok", "snapshot": name}``.

Every request except health needs ``Authorization: Bearer <token>`` (401 otherwise). Answers come
from the newest published snapshot (`cdp_lib.snapshots`), read into memory, so an ingest or a
segment refresh writing the workspace never blocks the API; a newly published snapshot is read
in the background and answers from it start once it is loaded. The request log has one JSON line per request: time, method,
route, HTTP status, milliseconds and token name; never the key, which may be an email.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
from pathlib import Path

import tornado.web

from cdp_lib.serve.store import KeyIndex
from cdp_lib.serve.tokens import TokenStore
from cdp_lib.snapshots import current_snapshot, open_published

log = logging.getLogger(__name__)
MAX_BATCH = 1000


class _Base(tornado.web.RequestHandler):
    route = ""

    def initialize(self, state: "ApiState") -> None:
        self.state = state
        self.token_name: str | None = None

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def write_error(self, status_code: int, **kwargs) -> None:
        message = getattr(kwargs.get("exc_info", (None, None))[1], "log_message", None)
        if status_code >= 500 and not message:
            message = "internal error; see the server log"
        self.finish({"error": message or self._reason})

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, tornado.web.HTTPError):
            return
        log.error("%s %s failed", self.request.method, self.route, exc_info=(typ, value, tb))

    def prepare(self) -> None:
        if not self.auth_required:
            return
        header = self.request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        self.token_name = self.state.tokens.check(token)
        if self.token_name is None:
            self.set_header("WWW-Authenticate", 'Bearer realm="cdp"')
            raise tornado.web.HTTPError(401, log_message="missing or invalid bearer token; create one with 'cdp token create --name NAME'")

    auth_required = True

    def on_finish(self) -> None:
        self.state.log_request(self.request.method, self.route, self.get_status(),
                               1000 * self.request.request_time(), self.token_name)

    def index(self) -> KeyIndex:
        index = self.state.current()
        if not index.has_membership:
            raise tornado.web.HTTPError(503, log_message="no segment membership in the published snapshot yet; "
                                        "run 'cdp segment refresh' (and 'cdp publish')")
        return index


class SegmentsHandler(_Base):
    route = "/v1/profiles/{key}/segments"

    def get(self, raw_key: str) -> None:
        key = urllib.parse.unquote(raw_key)
        index = self.index()
        profile_id = index.resolve(key)
        if profile_id is None:
            raise tornado.web.HTTPError(404, log_message="unknown profile")
        self.finish({"profile_id": profile_id, "segments": index.segments_of(profile_id)})


class BatchHandler(_Base):
    route = "/v1/profiles/segments"

    def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise tornado.web.HTTPError(400, log_message="the body is not JSON; send {\"keys\": [...]}") from None
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise tornado.web.HTTPError(400, log_message="expected {\"keys\": [\"<profile id, email or external id>\", ...]}")
        if len(keys) > MAX_BATCH:
            raise tornado.web.HTTPError(400, log_message=f"at most {MAX_BATCH} keys per request, got {len(keys)}")
        index = self.index()
        results = []
        for key in keys:
            pid = index.resolve(key)
            results.append({"key": key, "error": "unknown profile"} if pid is None else
                           {"key": key, "profile_id": pid, "segments": index.segments_of(pid)})
        self.finish({"results": results})


class HealthHandler(_Base):
    route = "/v1/health"
    auth_required = False

    def get(self) -> None:
        self.state.current()
        self.finish({"status": "ok", "snapshot": self.state.snapshot.name})


class NotFoundHandler(_Base):
    route = "(unknown)"

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404, log_message="no such route; see docs/activation.md")


class ApiState:
    """What the handlers share: the key index of the newest snapshot, tokens and the request log.

    Requests are answered from memory (`KeyIndex`); when a newer snapshot is published, its index
    is built in a background thread while requests keep being answered from the previous one,
    then swapped in. The snapshot file is open only while an index is built.
    """

    def __init__(self, db: str | os.PathLike, log_file: str | os.PathLike | None = None):
        self.db = Path(db)
        self._lock = threading.Lock()
        self._building = False
        self.snapshot, self.index = self._build()  # fail at start, not on the first request
        self.tokens = TokenStore.for_workspace(db)
        path = Path(log_file) if log_file else self.db.with_name(f"{self.db.stem}.api.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(path, "a", buffering=1, encoding="utf-8")
        self.log_path = path

    def _build(self) -> tuple[Path, KeyIndex]:
        ws = open_published(self.db)
        try:
            return ws.path, KeyIndex(ws)
        finally:
            ws.close()

    def _rebuild(self) -> None:
        try:
            snapshot, index = self._build()
            with self._lock:
                self.snapshot, self.index = snapshot, index
            log.info("now answering from snapshot %s", snapshot.name)
        except Exception:  # keep answering from the previous snapshot
            log.exception("could not read the new snapshot; still answering from %s", self.snapshot.name)
        finally:
            self._building = False

    def current(self) -> KeyIndex:
        """The index to answer from; starts a background rebuild when a newer snapshot exists."""
        newest = current_snapshot(self.db)
        if newest is not None and newest != self.snapshot and not self._building:
            self._building = True
            threading.Thread(target=self._rebuild, daemon=True).start()
        return self.index

    def log_request(self, method: str, route: str, status: int, ms: float, token: str | None) -> None:
        line = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": method, "route": route,
                "status": status, "ms": round(ms, 2), "token": token}
        self.log_file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self.tokens.close()
        self.log_file.close()


def make_app(state: ApiState) -> tornado.web.Application:
    args = {"state": state}
    return tornado.web.Application(
        [
            (r"/v1/profiles/segments", BatchHandler, args),
            (r"/v1/profiles/([^/]+)/segments", SegmentsHandler, args),
            (r"/v1/health", HealthHandler, args),
        ],
        default_handler_class=NotFoundHandler, default_handler_args=args,
        serve_traceback=False, debug=False, compress_response=False,
        log_function=lambda handler: None,  # the request log is ApiState.log_request
    )


def serve(db: str | os.PathLike, host: str = "127.0.0.1", port: int = 8870, log_file: str | None = None,
          ready=None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    import asyncio
    import signal

    async def main() -> None:
        state = ApiState(db, log_file)
        server = make_app(state).listen(port, address=host, xheaders=False)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        if ready is not None:
            ready(state)
        try:
            await stop.wait()
        finally:
            server.stop()
            state.close()

    asyncio.run(main())
