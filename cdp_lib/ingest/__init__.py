"""Load CSV, Parquet and JSON Lines files into `profiles`, `events` or `catalog`.

Every input row ends exactly once as *loaded*, *duplicate* or *quarantined* (with a reason a
person can act on); the whole ingest is one transaction, so a failure or a kill part-way
leaves the workspace as it was. Files are read by DuckDB (text columns stay text until they
are validated, so one bad value quarantines its row instead of failing the load), identities
are resolved set-wise (`cdp_lib.identity`), and nothing loops over rows in Python.
The rules are documented in docs/data-model.md.

The package: `readers` (files -> `_raw`), `columns` (names), `values` (parsing SQL),
`validate` (`_typed` and reasons), `write` (tables), `run` (`ingest_file`), `quarantine`.
This is storage-edge code and the one place, with `identity`, that speaks DuckDB SQL.
"""

from cdp_lib.ingest.columns import (
    ALIASES, IDENTIFIERS, TABLES, ColumnPlan, canonical_columns, check_table, parse_mapping,
    plan_columns,
)
from cdp_lib.ingest.quarantine import export_quarantine, quarantine_table
from cdp_lib.ingest.source import FORMATS, detect_format, file_sha256
from cdp_lib.ingest.run import (
    FAULT_ENV, LARGE_FILE_BYTES, MEMORY_LIMIT, STEPS, IngestResult, ingest_file, ingest_rows,
)
from cdp_lib.ingest.values import FALSE_WORDS, TRUE_WORDS

__all__ = [
    "ALIASES", "FALSE_WORDS", "FAULT_ENV", "FORMATS", "IDENTIFIERS", "LARGE_FILE_BYTES",
    "MEMORY_LIMIT", "STEPS", "TABLES", "TRUE_WORDS", "ColumnPlan", "IngestResult",
    "canonical_columns", "check_table", "detect_format", "export_quarantine", "file_sha256",
    "ingest_file", "ingest_rows", "parse_mapping", "plan_columns", "quarantine_table",
]
