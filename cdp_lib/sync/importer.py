"""Warehouse import: rows of a table in an Ibis backend become profiles or events.

The rows modified since the last import (by a `modified_at`-like column and a stored watermark)
are read through Ibis as an Arrow table and given to `cdp_lib.ingest.ingest_rows`, so column
mapping, validation, identity resolution, quarantine and de-duplication are exactly those of
file ingest. Rules in docs/data-management.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import ibis

from cdp_lib.errors import InputError

IMPORT_TABLES = ("profiles", "events")
DEFAULT_MODIFIED_COLUMN = "modified_at"


@dataclass
class ImportResult:
    """What one import read and what ingest made of it (`ingest` is None when nothing was new)."""

    source: str
    source_table: str
    table: str
    read: int
    watermark_before: str | None
    watermark_after: str | None
    ingest: object = None  # cdp_lib.ingest.IngestResult

    def as_dict(self) -> dict:
        out = {"source": self.source, "source_table": self.source_table, "table": self.table,
               "read": self.read, "watermark_before": self.watermark_before,
               "watermark_after": self.watermark_after}
        if self.ingest is not None:
            out.update({k: v for k, v in self.ingest.as_dict().items() if k not in ("table", "file")})
        return out


def import_table(ws, table: str, url: str, source_table: str,
                 modified_column: str = DEFAULT_MODIFIED_COLUMN,
                 mapping: Mapping[str, str] | None = None) -> ImportResult:
    """Ingest the rows of `source_table` at `url` whose `modified_column` is at or after the
    stored watermark (all rows the first time); the watermark becomes their newest value."""
    from cdp_lib.ingest import ingest_rows, parse_mapping
    from cdp_lib.sync import store
    from cdp_lib.sync.targets import check_url, connect, redact

    if table not in IMPORT_TABLES:
        raise InputError(f"warehouse import loads {' or '.join(IMPORT_TABLES)}, not {table!r}")
    if check_url(url) == "lake":
        raise InputError("--from takes a database URL such as postgresql://user@host:5432/db; "
                         "lake folders are read with --engine spark --lake DIR")
    explicit = parse_mapping(mapping)
    source = redact(url)
    db = ws.duckdb
    store.ensure_tables(db)
    before = store.import_watermark(db, source, source_table, table, modified_column)
    con = connect(url)
    try:
        try:
            src = con.table(source_table)
        except Exception:
            raise InputError(f"{source} has no table {source_table!r}; tables there: "
                             f"{', '.join(sorted(con.list_tables())) or 'none'}") from None
        if modified_column not in src.columns:
            raise InputError(f"{source_table} at {source} has no column {modified_column!r}; a warehouse "
                             f"import needs a modification time: name it with --modified-column "
                             f"(columns: {', '.join(src.columns)})")
        rows = src
        if before is not None:
            rows = src.filter(src[modified_column] >= ibis.literal(before).cast(src[modified_column].type()))
        rows = rows.order_by(modified_column).to_pyarrow()
    finally:
        con.disconnect()
    result = ImportResult(source, source_table, table, rows.num_rows, before, before)
    if rows.num_rows == 0:
        return result
    import pyarrow.compute as pc

    newest = pc.max(rows.column(modified_column)).as_py()
    newest = None if newest is None else (newest.isoformat() if hasattr(newest, "isoformat") else str(newest))
    # ingest's entry point for rows already read: the source is named in ingests and quarantine.
    result.ingest = ingest_rows(ws, table, rows, source=f"{source}#{source_table}", mapping=explicit)
    result.watermark_after = newest
    store.save_import(db, source, source_table, table, modified_column, newest, rows.num_rows,
                      result.ingest.ingest_id)
    return result



IMPORT_COLUMNS = ["source", "source_table", "table", "read", "loaded", "duplicates", "quarantined",
                  "new_profiles", "merges", "ingest_id", "watermark_before", "watermark_after"]


def import_frame(result: ImportResult):
    """One row for a report: what the import read, what ingest made of it, the watermark moved.

    Counts are 0 and `ingest_id` empty when nothing was modified since the last import.
    """
    import pandas as pd

    row = {**{k: 0 for k in ("loaded", "duplicates", "quarantined", "new_profiles", "merges")},
           "ingest_id": None, **result.as_dict()}
    return pd.DataFrame([{k: row.get(k) for k in IMPORT_COLUMNS}], columns=IMPORT_COLUMNS)
