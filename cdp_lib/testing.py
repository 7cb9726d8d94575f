"""Build small workspaces straight from data frames, for tests and examples.

Bypasses ingest (no identity resolution, no quarantine): the frames must already use canonical
column names and carry `profile_id`. Missing canonical columns are filled with nulls, extra
columns become custom properties, timestamps are stored as UTC microseconds like ingest does.
"""

from __future__ import annotations

import pandas as pd

from cdp_lib import schema
from cdp_lib.workspace import Workspace

_PANDAS_TYPES = {
    "VARCHAR": "string",
    "DOUBLE": "float64",
    "BIGINT": "Int64",
    "BOOLEAN": "boolean",
}


def canonical_frame(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Return `df` with every canonical column present and typed, extras kept after them."""
    out = pd.DataFrame(index=df.index)
    for col, sqltype in columns.items():
        if sqltype == "TIMESTAMPTZ":
            src = df[col] if col in df else pd.Series(pd.NaT, index=df.index)
            out[col] = pd.to_datetime(src, utc=True, format="ISO8601").astype("datetime64[us, UTC]")
        else:
            src = df[col] if col in df else pd.Series(None, index=df.index, dtype="object")
            out[col] = src.astype(_PANDAS_TYPES[sqltype])
    for col in df.columns:
        if col not in columns:
            out[col] = df[col]
    return out.reset_index(drop=True)


def workspace_from_frames(
    path: str = ":memory:",
    profiles: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    catalog: pd.DataFrame | None = None,
) -> Workspace:
    """A workspace whose canonical tables hold exactly the given rows.

    When `profiles` is omitted, one bare profile is created per distinct event `profile_id`.
    """
    ws = Workspace(path)
    if profiles is None and events is not None:
        profiles = pd.DataFrame({"profile_id": pd.unique(events["profile_id"])})
    frames = {"profiles": profiles, "events": events, "catalog": catalog}
    for name, df in frames.items():
        if df is None:
            continue
        canon = canonical_frame(df, schema.CANONICAL[name])
        ws.duckdb.register("_frame", canon)
        ws.duckdb.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _frame')
        ws.duckdb.unregister("_frame")
    return ws
