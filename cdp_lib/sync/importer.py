"""Warehouse import: rows of a table in an Ibis backend become profiles or events.

The rows modified since the last import (by a `modified_at`-like column and a stored watermark)
are read through Ibis into a Parquet file and given to `cdp_lib.ingest.ingest_file`, so column
mapping, validation, identity resolution, quarantine and de-duplication are exactly those of
file ingest. Rules in docs/data-management.md.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
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
    from cdp_lib.ingest import ingest_file, parse_mapping
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
        rows = rows.order_by(modified_column)
        with tempfile.TemporaryDirectory(prefix="cdp-import-") as tmp:
            path = Path(tmp) / f"{source_table}.parquet"
            n, newest = _write_parquet(rows, path, modified_column)
            result = ImportResult(source, source_table, table, n, before, before)
            if n == 0:
                return result
            result.ingest = ingest_file(ws, table, path, mapping=explicit)
    finally:
        con.disconnect()
    where = f"{source}#{source_table}"
    db.execute("UPDATE ingests SET file = ? WHERE ingest_id = ?", [where, result.ingest.ingest_id])
    db.execute("UPDATE quarantine SET file = ? WHERE ingest_id = ?", [where, result.ingest.ingest_id])
    result.watermark_after = newest
    store.save_import(db, source, source_table, table, modified_column, newest, n, result.ingest.ingest_id)
    return result


def _write_parquet(rows, path: Path, modified_column: str) -> tuple[int, str | None]:
    """Stream `rows` into one Parquet file; returns the row count and the newest modified value."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    writer = None
    n, newest = 0, None
    try:
        for batch in rows.to_pyarrow_batches(chunk_size=100_000):
            if batch.num_rows == 0:
                continue
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
            n += batch.num_rows
            top = pc.max(batch.column(modified_column)).as_py()
            if top is not None and (newest is None or top > newest):
                newest = top
    finally:
        if writer is not None:
            writer.close()
    if newest is None:
        return n, None
    return n, newest.isoformat() if hasattr(newest, "isoformat") else str(newest)
