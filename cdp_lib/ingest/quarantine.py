"""Reading back and exporting the rows that ingest set aside."""

from __future__ import annotations

import os

import pandas as pd

from cdp_lib.errors import InputError
from cdp_lib.workspace import Workspace


def quarantine_table(ws: Workspace, ingest_id: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Quarantined rows, newest ingest first then by line; optionally of one ingest."""
    q = ws.table("quarantine")
    if ingest_id is not None:
        q = q.filter(q.ingest_id == ingest_id)
    q = q.order_by([q.quarantined_at.desc(), q.ingest_id, q.line])
    if limit is not None:
        q = q.limit(limit)
    return q.execute()


def export_quarantine(ws: Workspace, out: str | os.PathLike, ingest_id: str | None = None) -> int:
    """Write the quarantine (or one ingest's part) to a CSV file; returns the row count."""
    df = quarantine_table(ws, ingest_id=ingest_id)
    try:
        df.to_csv(out, index=False)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}; choose a writable file path") from None
    return len(df)
