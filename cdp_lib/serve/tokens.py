"""API tokens: created once, shown once, stored only as SHA-256 hashes.

Tokens live in ``<workspace folder>/<stem>.tokens.sqlite`` (next to ``cdp.duckdb``), not in the
workspace itself, so a token created while `cdp serve` runs works at once, without publishing a
new snapshot. A token is ``cdp_`` followed by 43 URL-safe characters (256 random bits), so a plain
SHA-256 of it is enough to store: it cannot be guessed back from the hash.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import sqlite3
from pathlib import Path

from cdp_lib import local_db
from cdp_lib.errors import InputError
from cdp_lib.workspace import DEFAULT_PATH

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def tokens_path(db: str | os.PathLike | None = None) -> Path:
    db_path = Path(db if db is not None else os.environ.get("CDP_DB", DEFAULT_PATH))
    return db_path.with_name(f"{db_path.stem}.tokens.sqlite")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS tokens (name TEXT PRIMARY KEY, token_sha256 TEXT UNIQUE NOT NULL, "
                        "created_at TEXT NOT NULL, revoked_at TEXT)")
        self._cache: tuple[int, dict[str, str]] | None = None
        self._reader: sqlite3.Connection | None = None

    @classmethod
    def for_workspace(cls, db: str | os.PathLike | None = None) -> "TokenStore":
        return cls(tokens_path(db))

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return local_db.transaction(self.path)

    def create(self, name: str) -> str:
        """A new token called `name`; returns it (the only time it is shown)."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError(f"token name {name!r}: use 1-64 letters, digits, spaces, '.', '_' or '-'")
        token = "cdp_" + secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._connect() as con:
            row = con.execute("SELECT revoked_at FROM tokens WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] is None:
                raise InputError(f"a token named {name!r} exists; revoke it first ('cdp token revoke {name}') "
                                 "or choose another name")
            con.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, NULL)", (name, hash_token(token), now))
        return token

    def revoke(self, name: str) -> None:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._connect() as con:
            n = con.execute("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now, name)).rowcount
        if not n:
            raise InputError(f"no active token named {name!r}; 'cdp token list' shows them")

    def list(self) -> list[dict]:
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT name, created_at, revoked_at FROM tokens ORDER BY name")]

    def check(self, token: str | None) -> str | None:
        """The token's name when `token` is active, else None.

        Active token hashes are cached and re-read when SQLite's `data_version` says another
        connection committed a change (a create or a revoke), so a revoked token is refused from
        the next request on.
        """
        if not token:
            return None
        if self._reader is None:
            self._reader = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
        version = self._reader.execute("PRAGMA data_version").fetchone()[0]
        if self._cache is None or self._cache[0] != version:
            active = dict(self._reader.execute("SELECT token_sha256, name FROM tokens WHERE revoked_at IS NULL").fetchall())
            self._cache = (version, active)
        return self._cache[1].get(hash_token(token))

    def close(self) -> None:
        self._cache = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
