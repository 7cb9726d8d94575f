"""Streaming writers for Parquet, CSV and JSON Lines files, one Arrow batch at a time."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cdp_lib.errors import InputError

JSONL_BATCH_ROWS = 50_000
FORMATS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}


def file_name(table: str, fmt: str) -> str:
    """`events` + `csv` -> `events.csv`."""
    if fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    return f"{table}.{FORMATS[fmt]}"


class TableWriter:
    """Write Arrow tables of one schema to a file, chunk by chunk.

    The file appears under its final name only when the writer closes without error, so an
    interrupted run never leaves a truncated file that looks complete.
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema, fmt: str):
        file_name("x", fmt)  # validates fmt
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.schema = schema
        self.fmt = fmt
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(self.partial, schema, compression="zstd")
        elif fmt == "csv":
            self._writer = pacsv.CSVWriter(self.partial, schema)
        else:
            self._writer = open(self.partial, "w", encoding="utf-8")

    def write(self, table: pa.Table) -> None:
        table = table.cast(self.schema)
        if self.fmt == "jsonl":
            # pandas renders JSON; small slices keep its string copies from growing with the chunk.
            for batch in table.to_batches(max_chunksize=JSONL_BATCH_ROWS):
                frame = batch.to_pandas()
                text = frame.to_json(orient="records", lines=True, date_format="iso", date_unit="us")
                if text and not text.endswith("\n"):
                    text += "\n"
                self._writer.write(text)
        else:
            self._writer.write_table(table)

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, exc_type, *_) -> None:
        self._writer.close()
        if exc_type is None:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)
