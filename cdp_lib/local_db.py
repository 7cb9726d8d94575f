"""Small SQLite files kept beside the workspace (scheduler state, API tokens, the outbox).

SQLite, not the DuckDB workspace, because DuckDB allows one writer process per file: these are
written while an ingest or a report run holds the workspace.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from typing import Iterator


@contextlib.contextmanager
def transaction(path: str | os.PathLike, timeout: float = 30) -> Iterator[sqlite3.Connection]:
    """A connection to `path` whose block commits on success and rolls back on an error."""
    con = sqlite3.connect(path, timeout=timeout)
    try:
        with con:
            yield con
    finally:
        con.close()
